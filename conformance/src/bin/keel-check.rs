//! keel-check: the in-container conformance checker. See
//! `keel_conformance::checker` for what it verifies and its usage.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = keel_conformance::checker::main_with(&args, std::io::stdout().lock());
    std::process::exit(code);
}
