//! `#[coring::main]` and `#[coring::test]` misused (a non-async fn, arguments, an unknown
//! option, generics, a multi-worker main returning a number) fail to compile with a message
//! saying what to change, pointing at the user's code. The expected messages are in
//! `tests/macros_fail/*.stderr` (regenerate with `TRYBUILD=overwrite` after a deliberate change).

#[test]
fn macro_misuse_is_a_clear_compile_error() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/macros_fail/*.rs");
    // And used well, in a crate of its own with `coring` as its one dependency, they build and run.
    cases.pass("tests/macros_pass/*.rs");
}
