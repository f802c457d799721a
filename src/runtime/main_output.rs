//! [`MainOutput`]: how `#[coring::main(workers = N)]` turns the outputs of `N` workers into the
//! one value `main` returns.

/// The output of an `async fn main` that runs on every worker: `()` or a `Result`.
///
/// `#[coring::main(workers = N)]` expands to
/// `MainOutput::first_failure(runtime.run_on_all(...))`: the outputs of all workers, in worker
/// order, become the first error if any worker failed, else worker 0's value.
///
/// ```
/// use coring::runtime::MainOutput;
///
/// let outputs: Vec<Result<u8, &str>> = vec![Ok(0), Err("worker 1"), Err("worker 2")];
/// assert_eq!(MainOutput::first_failure(outputs), Err("worker 1"));
/// assert_eq!(MainOutput::first_failure(vec![Ok::<u8, ()>(7), Ok(8)]), Ok(7));
/// ```
#[diagnostic::on_unimplemented(
    message = "`#[coring::main(workers = N)]` needs `main` to return `()` or a `Result`, not `{Self}`",
    label = "the outputs of every worker are merged into one"
)]
pub trait MainOutput: Sized {
    /// The first failure among `outputs`, or worker 0's output when none failed.
    ///
    /// # Panics
    ///
    /// If `outputs` is empty (a runtime always has at least one worker).
    fn first_failure(outputs: Vec<Self>) -> Self;
}

impl MainOutput for () {
    fn first_failure(_outputs: Vec<()>) {}
}

impl<T, E> MainOutput for Result<T, E> {
    fn first_failure(outputs: Vec<Self>) -> Self {
        let mut first = None;
        for output in outputs {
            match output {
                Err(err) => return Err(err),
                Ok(value) => {
                    first.get_or_insert(value);
                }
            }
        }
        match first {
            Some(value) => Ok(value),
            None => panic!("coring: a multi-worker runtime returned no output"),
        }
    }
}
