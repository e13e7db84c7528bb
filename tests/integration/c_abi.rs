//! The C ABI from C (STYLE 10, issue [c-abi]): the committed header is what cbindgen generates,
//! its version macros are Cargo.toml's, it compiles as C11 and C++17 with every warning an
//! error, and the C programs in tests/c/ (the seven patterns, several threads, the features
//! beyond them, bad input) and the C++ wrapper's tests pass against the static library.
//!
//! # Where `libwarren.a` comes from
//!
//! The library's `crate-type` includes `staticlib`, so whenever cargo builds the library for
//! this test binary, the same rustc run writes `libwarren.a` beside the `libwarren.rlib` the
//! binary links: in `target/<profile>/deps/` (with `--target`, `target/<triple>/<profile>/
//! deps/`), the directory this binary lives in. (Crates with a `cdylib` or `staticlib` type
//! get no hash in their file names there.) So the test takes the library from
//! [`std::env::current_exe`]'s directory: always the build this test belongs to. Not
//! `target/<profile>/libwarren.a`: cargo copies the library up there only for `cargo build`,
//! not when it builds it as a test's dependency, so that copy can be stale. The test never
//! builds the library itself (a nested cargo would wait on the build lock held by the cargo
//! running the tests), and it checks that the static library is no older than the rlib.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The crate's root.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The header as the pinned cbindgen generates it from `src/ffi` with `cbindgen.toml`.
fn generated_header() -> String {
    let config = cbindgen::Config::from_file(root().join("cbindgen.toml"))
        .expect("cbindgen.toml is readable and valid");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root().join("src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen parses src/ffi");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("the header is UTF-8")
}

#[test]
fn header_is_what_cbindgen_generates() {
    let path = root().join("include/warren.h");
    let want = generated_header();
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(&path, &want).expect("include/warren.h is writable");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have != want {
        let line = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| have.lines().count().min(want.lines().count()));
        panic!(
            "include/warren.h differs from what cbindgen generates from src/ffi (first at line {}):\n\
             committed: {:?}\ngenerated: {:?}\n\
             regenerate it with `BLESS=1 cargo test --release --test integration c_abi`",
            line + 1,
            have.lines().nth(line),
            want.lines().nth(line)
        );
    }
}

#[test]
fn version_macros_are_cargo_tomls() {
    let header = std::fs::read_to_string(root().join("include/warren.h")).expect("the header");
    let macro_value = |name: &str| -> String {
        let prefix = format!("#define {name} ");
        header
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("include/warren.h defines {name}"))
            .trim()
            .to_string()
    };
    let from_header = format!(
        "{}.{}.{}",
        macro_value("WARREN_VERSION_MAJOR"),
        macro_value("WARREN_VERSION_MINOR"),
        macro_value("WARREN_VERSION_PATCH")
    );
    // The pre-release part, if any, is in `warren_version()` only.
    let cargo = env!("CARGO_PKG_VERSION");
    let cargo = cargo.split(['-', '+']).next().unwrap_or(cargo);
    assert_eq!(from_header, cargo);
    // SAFETY: `warren_version` takes nothing and returns a static NUL-terminated string.
    let linked = unsafe { std::ffi::CStr::from_ptr(warren::ffi::warren_version()) };
    assert_eq!(linked.to_str(), Ok(env!("CARGO_PKG_VERSION")));
}

/// The static library this test binary was built with (see the module docs).
fn staticlib() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe
        .parent()
        .expect("the test binary lives in target/<profile>/deps");
    let lib = deps.join("libwarren.a");
    let rlib = deps.join("libwarren.rlib");
    let modified = |p: &Path| {
        std::fs::metadata(p)
            .and_then(|m| m.modified())
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (Cargo.toml's [lib] crate-type must include \"staticlib\")",
                    p.display()
                )
            })
    };
    // One rustc run writes both; a static library older than the rlib is from another build.
    let slack = std::time::Duration::from_secs(60);
    assert!(
        modified(&lib) + slack >= modified(&rlib),
        "{} is older than the rlib this test links",
        lib.display()
    );
    lib
}

/// Runs `cmd`, panicking with its output unless it succeeds; returns its stdout.
fn run(mut cmd: Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    stdout
}

/// The warning flags every C and C++ compile uses (the issue's `-Wall -Wextra -Werror`).
const WARNINGS: [&str; 3] = ["-Wall", "-Wextra", "-Werror"];

/// Compiles `tests/c/<name>.c` against the header and the static library into `dir`.
fn build_c_test(name: &str, dir: &Path) -> PathBuf {
    let exe = dir.join(name);
    let mut cc = Command::new("cc");
    cc.args(["-std=c11", "-g", "-pthread"])
        .args(WARNINGS)
        .args(sanitizers())
        .arg("-I")
        .arg(root().join("include"))
        .arg(root().join(format!("tests/c/{name}.c")))
        .arg(staticlib())
        // What the Rust standard library in the static library links against.
        .args(["-lpthread", "-ldl", "-lm"])
        .arg("-o")
        .arg(&exe);
    run(cc, &format!("compiling tests/c/{name}.c"));
    exe
}

/// `WARREN_C_SANITIZE=1` (.ci/run's second pass) builds the C tests with AddressSanitizer and
/// UndefinedBehaviorSanitizer; LeakSanitizer then checks every allocation, the library's too.
fn sanitizers() -> Vec<&'static str> {
    match std::env::var_os("WARREN_C_SANITIZE") {
        Some(_) => vec![
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all",
            "-fno-omit-frame-pointer",
        ],
        None => Vec::new(),
    }
}

/// Runs a C test program and checks its closing line; under valgrind with `WARREN_C_VALGRIND`
/// set.
fn run_c_test(exe: &Path, args: &[&Path]) {
    let mut cmd = match std::env::var_os("WARREN_C_VALGRIND") {
        // .ci/run's valgrind pass: any invalid access or leak fails the run.
        Some(_) => {
            let mut v = Command::new("valgrind");
            v.args([
                "--error-exitcode=1",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite,possible",
                "--quiet",
            ])
            .arg(format!(
                "--suppressions={}",
                root().join("tests/c/valgrind.supp").display()
            ))
            .arg(exe);
            v
        }
        None => Command::new(exe),
    };
    // In its scratch directory: whatever it writes stays there.
    cmd.args(args)
        .current_dir(exe.parent().expect("the program's directory"));
    let stdout = run(cmd, &format!("running {}", exe.display()));
    let last = stdout.lines().last().unwrap_or_default();
    let (passed, failed) = last
        .split_once(" passed, ")
        .and_then(|(p, f)| Some((p.parse::<u32>().ok()?, f.strip_suffix(" failed")?)))
        .unwrap_or_else(|| panic!("no closing 'N passed, M failed' line in:\n{stdout}"));
    assert!(passed > 0 && failed == "0", "{last}");
}

#[test]
fn header_compiles_as_c11_and_cpp17() {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let c_file = dir.path().join("header.c");
    std::fs::write(
        &c_file,
        "#include \"warren.h\"\nint main(void) { return WARREN_STATUS_OK + WARREN_VERSION_MAJOR * 0; }\n",
    )
    .expect("scratch file");
    let mut cc = Command::new("cc");
    cc.args(["-std=c11", "-pedantic", "-fsyntax-only"])
        .args(WARNINGS)
        .arg("-I")
        .arg(root().join("include"))
        .arg(&c_file);
    run(cc, "compiling include/warren.h as C11");
    let cpp_file = dir.path().join("header.cpp");
    std::fs::write(
        &cpp_file,
        "#include \"warren.h\"\nint main() { warren_broker *b = nullptr; warren_broker_free(b); return 0; }\n",
    )
    .expect("scratch file");
    let mut cxx = Command::new("c++");
    cxx.args(["-std=c++17", "-pedantic", "-fsyntax-only"])
        .args(WARNINGS)
        .arg("-I")
        .arg(root().join("include"))
        .arg(&cpp_file);
    run(cxx, "compiling include/warren.h as C++17");
}

#[test]
fn c_patterns_pass() {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let exe = build_c_test("patterns", dir.path());
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("the data directory");
    run_c_test(&exe, &[&data]);
}

#[test]
fn c_features_pass() {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let exe = build_c_test("features", dir.path());
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("the data directory");
    run_c_test(&exe, &[&data]);
}

#[test]
fn c_bad_input_is_answered() {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let exe = build_c_test("bad_input", dir.path());
    run_c_test(&exe, &[]);
}

/// The C++ flags: C++17 with the same warnings, `-pedantic` too, and the wrapper's directory.
fn cpp_command() -> Command {
    let mut cxx = Command::new("c++");
    cxx.args(["-std=c++17", "-g", "-pthread", "-pedantic"])
        .args(WARNINGS)
        .args(sanitizers())
        .arg("-I")
        .arg(root().join("include"))
        .arg("-I")
        .arg(root().join("bindings/cpp"));
    cxx
}

#[test]
fn cpp_wrapper_header_compiles_alone() {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let file = dir.path().join("wrapper.cpp");
    std::fs::write(&file, "#include \"warren.hpp\"\nint main() { return 0; }\n")
        .expect("scratch file");
    let mut cxx = cpp_command();
    cxx.arg("-fsyntax-only").arg(&file);
    run(cxx, "compiling bindings/cpp/warren.hpp alone");
}

#[test]
fn cpp_wrapper_patterns_pass() {
    let dir = tempfile::tempdir().expect("a scratch directory");
    let exe = dir.path().join("patterns_cpp");
    let mut cxx = cpp_command();
    cxx.arg(root().join("bindings/cpp/tests/patterns.cpp"))
        .arg(staticlib())
        .args(["-lpthread", "-ldl", "-lm"])
        .arg("-o")
        .arg(&exe);
    run(cxx, "compiling bindings/cpp/tests/patterns.cpp");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("the data directory");
    run_c_test(&exe, &[&data]);
}
