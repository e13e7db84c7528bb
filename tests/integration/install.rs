//! `scripts/install.sh` (issue [c-abi]: "a C user does `pkg-config --cflags --libs warren`"):
//! installs into a scratch prefix, then a C program is built with nothing but what
//! `pkg-config` says, against the installed shared library and then the installed static one,
//! and run.
//!
//! The script runs with `--no-build --lib-dir <this binary's directory>`: the libraries of the
//! build this test belongs to (see `c_abi.rs` for why they are in `target/<profile>/deps/`). It
//! never runs cargo: a nested `cargo build` would wait on the build directory lock held by the
//! cargo running the tests. Skipped, with a note, when `pkg-config` is not installed (.ci/run
//! installs it).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The crate's root.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The directory of this test binary: `target/<profile>/deps/`, where the same rustc run that
/// wrote the rlib this binary links also wrote `libwarren.a` and `libwarren.so`. Checks both are
/// there and no older than the rlib (a stale library would test another build).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe
        .parent()
        .expect("the test binary lives in target/<profile>/deps")
        .to_path_buf();
    let modified = |name: &str| {
        let p = deps.join(name);
        std::fs::metadata(&p)
            .and_then(|m| m.modified())
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (Cargo.toml's [lib] crate-type must include \"staticlib\" and \
                     \"cdylib\")",
                    p.display()
                )
            })
    };
    let rlib = modified("libwarren.rlib");
    let slack = std::time::Duration::from_secs(60);
    for lib in ["libwarren.a", "libwarren.so"] {
        assert!(
            modified(lib) + slack >= rlib,
            "{lib} in {} is older than the rlib this test links",
            deps.display()
        );
    }
    deps
}

/// Runs `cmd`, panicking with its output unless it succeeds; returns its stdout.
fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `scripts/install.sh --no-build` from this build's libraries into `prefix`, with `DESTDIR`
/// if given.
fn install(prefix: &Path, destdir: Option<&Path>) -> String {
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("scripts/install.sh"))
        .arg("--no-build")
        .arg("--lib-dir")
        .arg(lib_dir())
        .arg("--prefix")
        .arg(prefix);
    match destdir {
        Some(d) => cmd.env("DESTDIR", d),
        None => cmd.env_remove("DESTDIR"),
    };
    run(&mut cmd, "scripts/install.sh")
}

/// `pkg-config ARGS warren` against the `.pc` installed under `prefix` only.
fn pkg_config(prefix: &Path, args: &[&str]) -> Vec<String> {
    let pc_dir = prefix.join("lib/pkgconfig");
    let out = run(
        Command::new("pkg-config")
            .args(args)
            .arg("warren")
            // Ours first; no other directory's warren.pc (a system install) can answer.
            .env("PKG_CONFIG_PATH", &pc_dir)
            .env("PKG_CONFIG_LIBDIR", &pc_dir),
        &format!("pkg-config {}", args.join(" ")),
    );
    out.split_whitespace().map(String::from).collect()
}

/// A C program using the installed header and library: a broker, a publish and a get.
const APP: &str = r#"#include <warren.h>
#include <stdio.h>
#include <string.h>

#define CHECK(call) do { warren_status s_ = (call); if (s_ != WARREN_STATUS_OK) { \
    char e_[256]; warren_last_error(e_, sizeof e_); \
    fprintf(stderr, "%s: %d %s\n", #call, (int)s_, e_); return 1; } } while (0)

int main(void) {
    warren_broker *broker = NULL;
    warren_connection *conn = NULL;
    warren_channel *ch = NULL;
    warren_delivery *d = NULL;
    const uint8_t *body = NULL;
    size_t len = 0;
    CHECK(warren_broker_new(&broker));
    CHECK(warren_broker_connect(broker, &conn));
    CHECK(warren_connection_create_channel(conn, &ch));
    CHECK(warren_channel_queue_declare(ch, (const uint8_t *)"q", 1, 0, NULL, NULL, 0, NULL, NULL,
                                       NULL));
    CHECK(warren_channel_basic_publish(ch, NULL, 0, (const uint8_t *)"q", 1,
                                       (const uint8_t *)"hello", 5, NULL, false, NULL));
    CHECK(warren_channel_basic_get(ch, (const uint8_t *)"q", 1, true, &d, NULL));
    if (d == NULL) { fprintf(stderr, "no message\n"); return 1; }
    CHECK(warren_delivery_body(d, &body, &len));
    if (len != 5 || memcmp(body, "hello", 5) != 0) { fprintf(stderr, "wrong body\n"); return 1; }
    warren_delivery_free(d);
    warren_channel_free(ch);
    warren_connection_free(conn);
    warren_broker_free(broker);
    printf("ok %s %d.%d.%d\n", warren_version(), WARREN_VERSION_MAJOR, WARREN_VERSION_MINOR,
           WARREN_VERSION_PATCH);
    return 0;
}
"#;

/// Compiles `app.c` in `dir` with `flags` (pkg-config's output, plus `extra`) and runs it;
/// returns the program's path.
fn build_and_run(dir: &Path, name: &str, flags: &[String], extra: &[String]) -> PathBuf {
    let exe = dir.join(name);
    run(
        Command::new("cc")
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror"])
            .arg(dir.join("app.c"))
            .args(flags)
            .args(extra)
            .arg("-o")
            .arg(&exe),
        &format!("cc app.c $(pkg-config ...) -o {name}"),
    );
    let out = run(&mut Command::new(&exe), &format!("running {name}"));
    let version = env!("CARGO_PKG_VERSION");
    let base = version.split(['-', '+']).next().unwrap_or(version);
    assert_eq!(
        out.trim(),
        format!("ok {version} {base}"),
        "{name}'s output"
    );
    exe
}

/// Whether the dynamic loader resolves `libwarren.so` for `exe` (from `ldd`).
fn links_libwarren_so(exe: &Path) -> bool {
    run(Command::new("ldd").arg(exe), "ldd").contains("libwarren.so")
}

#[test]
fn installs_a_library_that_pkg_config_finds_and_c_links() {
    if Command::new("pkg-config")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("SKIPPED: pkg-config is not installed");
        return;
    }
    let tmp = tempfile::tempdir().expect("a scratch directory");
    let prefix = tmp.path().join("prefix");
    install(&prefix, None);

    let header = std::fs::read(root().join("include/warren.h")).expect("the header");
    assert_eq!(
        std::fs::read(prefix.join("include/warren.h")).expect("the installed header"),
        header
    );
    for lib in ["libwarren.a", "libwarren.so"] {
        assert!(
            prefix.join("lib").join(lib).is_file(),
            "lib/{lib} installed"
        );
    }
    assert_eq!(
        pkg_config(&prefix, &["--modversion"]),
        [env!("CARGO_PKG_VERSION")]
    );
    let include = format!("-I{}", prefix.join("include").display());
    let lib = format!("-L{}", prefix.join("lib").display());
    assert_eq!(
        pkg_config(&prefix, &["--cflags", "--libs"]),
        [include.as_str(), lib.as_str(), "-lwarren"]
    );
    let static_flags = pkg_config(&prefix, &["--cflags", "--libs", "--static"]);
    assert_eq!(
        static_flags,
        [
            include.as_str(),
            lib.as_str(),
            "-lwarren",
            "-lpthread",
            "-ldl",
            "-lm"
        ]
    );

    let dir = tmp.path();
    std::fs::write(dir.join("app.c"), APP).expect("scratch file");

    // Shared: `-lwarren` finds libwarren.so first; an rpath so the loader finds it too.
    let shared = build_and_run(
        dir,
        "app_shared",
        &pkg_config(&prefix, &["--cflags", "--libs"]),
        &[format!("-Wl,-rpath,{}", prefix.join("lib").display())],
    );
    assert!(links_libwarren_so(&shared), "app_shared uses libwarren.so");

    // Static: a prefix holding only the archive (as a static-only package would), linked with
    // `--static`'s flags, which must name everything the Rust standard library inside needs.
    std::fs::remove_file(prefix.join("lib/libwarren.so")).expect("remove libwarren.so");
    let fully_static = build_and_run(dir, "app_static", &static_flags, &[]);
    assert!(
        !links_libwarren_so(&fully_static),
        "app_static has libwarren linked in"
    );
}

#[test]
fn honours_destdir() {
    let tmp = tempfile::tempdir().expect("a scratch directory");
    let stage = tmp.path().join("stage");
    let prefix = Path::new("/opt/warren-test");
    install(prefix, Some(&stage));
    let staged = stage.join("opt/warren-test");
    for f in [
        "include/warren.h",
        "lib/libwarren.a",
        "lib/libwarren.so",
        "lib/pkgconfig/warren.pc",
    ] {
        assert!(staged.join(f).is_file(), "{f} staged under DESTDIR");
    }
    assert!(!prefix.exists(), "nothing written outside DESTDIR");
    let pc = std::fs::read_to_string(staged.join("lib/pkgconfig/warren.pc")).expect("warren.pc");
    assert!(
        pc.lines().any(|l| l == "prefix=/opt/warren-test"),
        "the .pc names the prefix, not DESTDIR:\n{pc}"
    );
    assert!(
        pc.lines()
            .any(|l| l == format!("Version: {}", env!("CARGO_PKG_VERSION"))),
        "{pc}"
    );
    assert!(!pc.contains('@'), "every placeholder filled in:\n{pc}");
}
