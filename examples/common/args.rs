//! A tiny command-line parser for the examples: `--name value`, `--name=value`, `--flag`, and
//! positional arguments. Bad input prints the usage and exits with status 2.

// Each example uses some of these.
#![allow(dead_code)]

use std::fmt::Display;
use std::str::FromStr;

/// The arguments not yet taken by [`flag`](Args::flag) or [`value`](Args::value).
pub struct Args {
    rest: Vec<String>,
    usage: &'static str,
}

impl Args {
    /// The process's arguments; `-h`/`--help` prints `usage` and exits.
    pub fn from_env(usage: &'static str) -> Args {
        let rest: Vec<String> = std::env::args().skip(1).collect();
        if rest.iter().any(|a| a == "-h" || a == "--help") {
            println!("{usage}");
            std::process::exit(0);
        }
        Args { rest, usage }
    }

    /// Whether `--name` was given (taken out of the arguments).
    pub fn flag(&mut self, name: &str) -> bool {
        let before = self.rest.len();
        self.rest.retain(|a| a != name);
        self.rest.len() != before
    }

    /// The value of `--name value` or `--name=value`, or `default` if absent.
    pub fn value<T: FromStr>(&mut self, name: &str, default: T) -> T
    where
        T::Err: Display,
    {
        let prefix = format!("{name}=");
        let Some(i) = self
            .rest
            .iter()
            .position(|a| a == name || a.starts_with(&prefix))
        else {
            return default;
        };
        let arg = self.rest.remove(i);
        let text = match arg.strip_prefix(&prefix) {
            Some(text) => text.to_owned(),
            None if i < self.rest.len() => self.rest.remove(i),
            None => self.fail(&format!("{name} needs a value")),
        };
        text.parse()
            .unwrap_or_else(|e| self.fail(&format!("{name} {text}: {e}")))
    }

    /// The value of `--name SECS` (fractions allowed) as a `Duration`, or `default` seconds.
    pub fn seconds(&mut self, name: &str, default: f64) -> std::time::Duration {
        let secs: f64 = self.value(name, default);
        std::time::Duration::try_from_secs_f64(secs)
            .unwrap_or_else(|e| self.fail(&format!("{name} {secs}: {e}")))
    }

    /// The positional arguments left; an unknown `--option` is an error.
    pub fn finish(self) -> Vec<String> {
        if let Some(unknown) = self.rest.iter().find(|a| a.starts_with("--")) {
            self.fail(&format!("unknown option {unknown}"));
        }
        self.rest
    }

    /// Prints `message` and the usage, and exits with status 2: for a value the parser took
    /// but the program cannot use.
    pub fn fail(&self, message: &str) -> ! {
        eprintln!("error: {message}\n\n{}", self.usage);
        std::process::exit(2);
    }
}
