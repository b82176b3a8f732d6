//! `#[backend_test]` turns a test function taking a `Backend` into one test per storage backend:
//!
//! ```text
//! #[backend_test]
//! async fn sends_a_code(backend: Backend) { let app = spawn_app(backend).await; ... }
//! ```
//!
//! becomes the function as written plus `mod sends_a_code { sqlite, postgres }`, two `#[tokio::test]`s
//! (or plain `#[test]`s for a function that is not `async`) that hand it `Backend::Sqlite` and
//! `Backend::Postgres` through `crate::backend::Backend::run` / `run_sync`, which fail the PostgreSQL
//! one when no server is reachable, or skip it when `DOCSPACE_AUTH_SKIP_POSTGRES=1` opts out. Attribute arguments (`flavor = "multi_thread"`) go
//! to `tokio::test`.
//!
//! Written on `proc_macro` alone: it only needs the function's name and whether it is `async`.

use proc_macro::{TokenStream, TokenTree};

#[proc_macro_attribute]
pub fn backend_test(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut is_async = false;
    let mut name = None;
    let mut tokens = item.clone().into_iter();
    while let Some(token) = tokens.next() {
        if let TokenTree::Ident(ident) = &token {
            match ident.to_string().as_str() {
                "async" => is_async = true,
                "fn" => {
                    name = tokens.next();
                    break;
                }
                _ => {}
            }
        }
    }
    let Some(TokenTree::Ident(name)) = name else {
        return r##"compile_error!("#[backend_test] goes on a function");"##.parse().unwrap();
    };
    let tests: String = [("sqlite", "Sqlite"), ("postgres", "Postgres")]
        .iter()
        .map(|(test, variant)| {
            if is_async {
                let attribute =
                    if args.is_empty() { "#[::tokio::test]".to_owned() } else { format!("#[::tokio::test({args})]") };
                format!(
                    "{attribute} async fn {test}() {{ crate::backend::Backend::{variant}.run(super::{name}).await }}"
                )
            } else {
                format!("#[test] fn {test}() {{ crate::backend::Backend::{variant}.run_sync(super::{name}) }}")
            }
        })
        .collect();
    let wrappers: TokenStream = format!("mod {name} {{ {tests} }}").parse().expect("valid tokens");
    let mut output = item;
    output.extend(wrappers);
    output
}
