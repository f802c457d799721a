//! `#[coring::main]` and `#[coring::test]`; use them through the `coring` crate, which
//! re-exports them.
//!
//! Both turn an `async fn` without arguments into a plain `fn` that builds a runtime with
//! `coring::Builder` and runs the body on it: the expansion is code a user could write by hand.
//!
//! | attribute | expands to |
//! |---|---|
//! | `#[coring::main]` | `Builder::new().build()` then `runtime.block_on(async { body })` |
//! | `#[coring::main(workers = N)]` | `Builder::new().workers(N).build_multi()` then `run_on_all(\|_\| async { body })`: the body runs once on every worker |
//! | `#[coring::test]` | `#[test]`, and the same as `#[coring::main]` |
//!
//! The tokens are handled with `proc_macro` alone (no `syn`): the macros only need to find
//! `async`, the argument list and the body, and keeping a parser crate out of every user's build
//! is worth the few lines.

use proc_macro::{Delimiter, Group, Ident, Literal, Punct, Spacing, Span, TokenStream, TokenTree};

/// Runs an `async fn main` on a coring runtime.
///
/// ```ignore
/// #[coring::main]
/// async fn main() {
///     coring::time::sleep(std::time::Duration::from_millis(1)).await;
/// }
/// ```
///
/// `#[coring::main(workers = N)]` starts `N` worker threads (one ring each) and runs the body
/// on **every** worker, as in a thread-per-core server where each worker binds its own
/// listener (say, with `SO_REUSEPORT`). The function then returns `()` or a `Result`, which is
/// the first worker's error if any failed; the output must be `Send` (it crosses threads).
///
/// A `main` that never returns may say so, `async fn main() -> !`, with or without `workers`.
///
/// A runtime that cannot start panics with the reason (io_uring missing or forbidden is not
/// such a case: the runtime runs on epoll then, unless `CORING_BACKEND=io_uring` forces it).
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item.clone(), Kind::Main).unwrap_or_else(|err| err.with_stub_of(item))
}

/// Runs an `async` test on a fresh coring runtime: `#[test]` plus what `#[coring::main]` does.
///
/// ```ignore
/// #[coring::test]
/// async fn spawned_tasks_run() {
///     assert_eq!(coring::spawn(async { 1 }).await.unwrap(), 1);
/// }
/// ```
///
/// `#[coring::test(workers = N)]` runs the body on every one of `N` workers.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item.clone(), Kind::Test).unwrap_or_else(|err| err.with_stub_of(item))
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Main,
    Test,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Main => "coring::main",
            Kind::Test => "coring::test",
        }
    }
}

/// A compile error pointing at `span`.
struct Error {
    span: Span,
    message: String,
}

impl Error {
    fn new(span: Span, message: impl Into<String>) -> Self {
        Error {
            span,
            message: message.into(),
        }
    }

    /// The error, and a stand-in for the function with a body that never runs, so the only
    /// message the user sees is this one (not "`main` function not found" after it).
    fn with_stub_of(self, item: TokenStream) -> TokenStream {
        let mut out = self.into_tokens();
        let tokens: Vec<TokenTree> = item.into_iter().collect();
        let fn_at = tokens
            .iter()
            .position(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "fn"));
        if let Some(fn_at) = fn_at {
            if let Some(TokenTree::Ident(name)) = tokens.get(fn_at + 1) {
                let head = tokens[..fn_at]
                    .iter()
                    .filter(|t| !matches!(t, TokenTree::Ident(i) if i.to_string() == "async"));
                out.extend(head.cloned());
                out.extend([
                    TokenTree::Ident(Ident::new("fn", name.span())),
                    name.clone().into(),
                ]);
                out.extend(code("() { ::core::unreachable!() }"));
            }
        }
        out
    }

    /// `::core::compile_error!("message")`, every token carrying the offending span so the
    /// compiler underlines the user's code, not the attribute.
    fn into_tokens(self) -> TokenStream {
        let span = self.span;
        let mut message = Literal::string(&self.message);
        message.set_span(span);
        let tokens = [
            punct(':', Spacing::Joint, span),
            punct(':', Spacing::Alone, span),
            TokenTree::Ident(Ident::new("core", span)),
            punct(':', Spacing::Joint, span),
            punct(':', Spacing::Alone, span),
            TokenTree::Ident(Ident::new("compile_error", span)),
            punct('!', Spacing::Alone, span),
            group(Delimiter::Brace, TokenTree::Literal(message).into(), span),
        ];
        tokens.into_iter().collect()
    }
}

fn punct(ch: char, spacing: Spacing, span: Span) -> TokenTree {
    let mut punct = Punct::new(ch, spacing);
    punct.set_span(span);
    TokenTree::Punct(punct)
}

fn group(delimiter: Delimiter, stream: TokenStream, span: Span) -> TokenTree {
    let mut group = Group::new(delimiter, stream);
    group.set_span(span);
    TokenTree::Group(group)
}

/// What the attribute's arguments asked for.
struct Options {
    /// `workers = N`, as the user wrote `N` (an expression of type `usize`).
    workers: Option<TokenStream>,
}

/// Parses `key = value, ...`; `workers` is the only key.
fn parse_options(args: TokenStream, kind: Kind) -> Result<Options, Error> {
    let mut options = Options { workers: None };
    let mut tokens = args.into_iter().peekable();
    while let Some(key) = tokens.next() {
        let TokenTree::Ident(ident) = &key else {
            return Err(Error::new(
                key.span(),
                format!("#[{}] takes `workers = N`", kind.name()),
            ));
        };
        if ident.to_string() != "workers" {
            return Err(Error::new(
                ident.span(),
                format!(
                    "#[{}]: unknown option `{ident}`; the one option is `workers = N`",
                    kind.name()
                ),
            ));
        }
        match tokens.next() {
            Some(TokenTree::Punct(eq)) if eq.as_char() == '=' => {}
            other => {
                let span = other.map_or(ident.span(), |t| t.span());
                return Err(Error::new(span, "expected `=` after `workers`"));
            }
        }
        let mut value = Vec::new();
        while let Some(token) = tokens.peek() {
            if matches!(token, TokenTree::Punct(p) if p.as_char() == ',') {
                tokens.next();
                break;
            }
            value.extend(tokens.next());
        }
        if value.is_empty() {
            return Err(Error::new(ident.span(), "`workers =` needs a number"));
        }
        if options.workers.is_some() {
            return Err(Error::new(ident.span(), "`workers` is given twice"));
        }
        // `Builder::workers` counts 0 as 1; a literal 0 is a mistake (or a guess that it means
        // "every core"), so it is caught here rather than quietly run on one worker.
        if let [TokenTree::Literal(zero)] = value.as_slice() {
            if zero.to_string().trim_start_matches('0').is_empty()
                || zero.to_string().starts_with("0usize")
            {
                return Err(Error::new(
                    zero.span(),
                    format!(
                        "#[{}]: `workers = 0` would run nothing; a runtime needs at least one \
                         worker",
                        kind.name()
                    ),
                ));
            }
        }
        options.workers = Some(value.into_iter().collect());
    }
    Ok(options)
}

/// The parts of `[attrs] [vis] async fn name() [-> Ret] { body }` the expansion needs.
struct AsyncFn {
    /// Everything before `async`: attributes and visibility, kept as written.
    head: Vec<TokenTree>,
    name: Ident,
    /// `-> Ret` (possibly empty), kept as written.
    ret: Vec<TokenTree>,
    body: Group,
}

fn parse_fn(item: TokenStream, kind: Kind) -> Result<AsyncFn, Error> {
    let tokens: Vec<TokenTree> = item.into_iter().collect();
    let is_ident =
        |t: &TokenTree, word: &str| matches!(t, TokenTree::Ident(i) if i.to_string() == word);
    let Some(fn_at) = tokens.iter().position(|t| is_ident(t, "fn")) else {
        let span = tokens.first().map_or(Span::call_site(), |t| t.span());
        return Err(Error::new(
            span,
            format!("#[{}] goes on an `async fn`", kind.name()),
        ));
    };
    let name = match tokens.get(fn_at + 1) {
        Some(TokenTree::Ident(name)) => name.clone(),
        _ => {
            return Err(Error::new(
                tokens[fn_at].span(),
                "expected the function's name",
            ))
        }
    };
    // Qualifiers sit between the visibility and `fn`: `async`, and ones we refuse.
    let mut async_at = None;
    for (i, token) in tokens[..fn_at].iter().enumerate() {
        if let TokenTree::Ident(word) = token {
            match word.to_string().as_str() {
                "async" => async_at = Some(i),
                "const" | "unsafe" | "extern" => {
                    return Err(Error::new(
                        word.span(),
                        format!("#[{}] does not support `{word}` functions", kind.name()),
                    ))
                }
                _ => {}
            }
        }
    }
    let Some(async_at) = async_at else {
        return Err(Error::new(
            tokens[fn_at].span(),
            format!(
                "#[{}] needs an `async fn`: add `async` before `fn {name}`",
                kind.name()
            ),
        ));
    };
    let params = match tokens.get(fn_at + 2) {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Parenthesis => g,
        Some(TokenTree::Punct(p)) if p.as_char() == '<' => {
            return Err(Error::new(
                p.span(),
                format!("#[{}] functions cannot be generic", kind.name()),
            ))
        }
        other => {
            let span = other.map_or(name.span(), |t| t.span());
            return Err(Error::new(span, "expected the argument list"));
        }
    };
    if !params.stream().is_empty() {
        return Err(Error::new(
            params.span(),
            format!(
                "#[{}] functions take no arguments: `{name}` is called by the {}",
                kind.name(),
                if kind == Kind::Main {
                    "program's start"
                } else {
                    "test harness"
                }
            ),
        ));
    }
    let Some((TokenTree::Group(body), between)) = tokens[fn_at + 3..].split_last() else {
        return Err(Error::new(name.span(), "expected the function's body"));
    };
    if body.delimiter() != Delimiter::Brace {
        return Err(Error::new(body.span(), "expected the function's body"));
    }
    if let Some(word) = between.iter().find(|t| is_ident(t, "where")) {
        return Err(Error::new(
            word.span(),
            format!("#[{}] functions cannot have a `where` clause", kind.name()),
        ));
    }
    let mut head = tokens[..async_at].to_vec();
    head.extend_from_slice(&tokens[async_at + 1..fn_at]);
    Ok(AsyncFn {
        head,
        name,
        ret: between.to_vec(),
        body: body.clone(),
    })
}

fn expand(args: TokenStream, item: TokenStream, kind: Kind) -> Result<TokenStream, Error> {
    let options = parse_options(args, kind)?;
    let f = parse_fn(item, kind)?;
    let mut output: TokenStream = f.ret.iter().skip(2).cloned().collect();
    // `-> !` (a server that never returns) cannot name `!` as the block's output on stable
    // Rust: the block is typed `()` (a diverging body fits it), and the function ends where
    // its body never gets.
    let never = output.to_string() == "!";
    if never {
        output = code("()");
    }
    // With a declared return type the async block is given it explicitly, so `?` in the body
    // knows which error to convert into.
    let typed = !output.is_empty();
    let template = match (options.workers.is_some(), typed) {
        (false, false) => {
            "let body = async move HOLE_BODY; \
             ::coring::Builder::new().build().unwrap_or_else(|err| \
                 ::core::panic!(\"coring: the runtime could not start: {err}\")).block_on(body)"
        }
        (false, true) => {
            "let body = async move HOLE_BODY; \
             let body = ::core::pin::pin!(body); \
             let body: ::core::pin::Pin<&mut dyn ::core::future::Future<Output = HOLE_OUTPUT>> = body; \
             ::coring::Builder::new().build().unwrap_or_else(|err| \
                 ::core::panic!(\"coring: the runtime could not start: {err}\")).block_on(body)"
        }
        // Every worker runs its own copy of the body, so the block is built per worker.
        (true, false) => {
            "let __coring_runtime = ::coring::Builder::new().workers(HOLE_WORKERS).build_multi() \
                 .unwrap_or_else(|err| \
                     ::core::panic!(\"coring: the runtime could not start: {err}\")); \
             ::coring::runtime::MainOutput::first_failure( \
                 __coring_runtime.run_on_all(|_worker| async move HOLE_BODY))"
        }
        (true, true) => {
            "let __coring_runtime = ::coring::Builder::new().workers(HOLE_WORKERS).build_multi() \
                 .unwrap_or_else(|err| \
                     ::core::panic!(\"coring: the runtime could not start: {err}\")); \
             ::coring::runtime::MainOutput::first_failure(__coring_runtime.run_on_all(|_worker| { \
                 let body = async move HOLE_BODY; \
                 let body: ::core::pin::Pin<::std::boxed::Box< \
                     dyn ::core::future::Future<Output = HOLE_OUTPUT>>> = \
                     ::std::boxed::Box::pin(body); \
                 body \
             }))"
        }
    };
    let holes = Holes {
        body: TokenTree::Group(f.body).into(),
        output,
        workers: options.workers.unwrap_or_default(),
    };
    let mut out = TokenStream::new();
    if kind == Kind::Test {
        out.extend(code("#[::core::prelude::v1::test]"));
    }
    out.extend(f.head);
    out.extend([
        TokenTree::Ident(Ident::new("fn", Span::call_site())),
        TokenTree::Ident(f.name),
        group(
            Delimiter::Parenthesis,
            TokenStream::new(),
            Span::call_site(),
        ),
    ]);
    out.extend(f.ret);
    let mut body = holes.fill(code(template));
    if never {
        body.extend(code(
            "; ::core::unreachable!(\"coring: the body of a `-> !` function returned\")",
        ));
    }
    out.extend([group(Delimiter::Brace, body, Span::call_site())]);
    Ok(out)
}

/// The user's tokens that go into a template, in place of the identifiers `HOLE_*`.
struct Holes {
    body: TokenStream,
    output: TokenStream,
    workers: TokenStream,
}

impl Holes {
    /// `template` with each hole replaced by the user's tokens (their spans kept, so errors
    /// in the body point at the body).
    fn fill(&self, template: TokenStream) -> TokenStream {
        template
            .into_iter()
            .flat_map(|token| -> TokenStream {
                match token {
                    TokenTree::Ident(ident) => match ident.to_string().as_str() {
                        "HOLE_BODY" => self.body.clone(),
                        "HOLE_OUTPUT" => self.output.clone(),
                        "HOLE_WORKERS" => self.workers.clone(),
                        _ => TokenTree::Ident(ident).into(),
                    },
                    TokenTree::Group(g) => {
                        group(g.delimiter(), self.fill(g.stream()), g.span()).into()
                    }
                    other => other.into(),
                }
            })
            .collect()
    }
}

/// Fixed code of the expansion (spans at the attribute).
fn code(text: &str) -> TokenStream {
    text.parse().expect("the macro's own code parses")
}
