//! The library's version: `warren_version()` at run time, `WARREN_VERSION_*` macros at
//! compile time.
//!
//! The macros are literals (cbindgen copies only literal constants into the header), so a
//! compile-time check below ties them to `Cargo.toml`'s version: bumping one without the other
//! does not build, and the header drift test then asks for the header to be regenerated.

use std::ffi::c_char;

/// The major version of the header, `Cargo.toml`'s.
pub const WARREN_VERSION_MAJOR: u32 = 0;
/// The minor version of the header.
pub const WARREN_VERSION_MINOR: u32 = 1;
/// The patch version of the header.
pub const WARREN_VERSION_PATCH: u32 = 0;

/// The library's version as `"MAJOR.MINOR.PATCH"` (NUL-terminated).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// A decimal number at compile time; `u32::MAX` for anything else, which no check accepts.
const fn parse_u32(s: &str) -> u32 {
    let b = s.as_bytes();
    if b.is_empty() {
        return u32::MAX;
    }
    let mut n: u32 = 0;
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() || n > (u32::MAX - 9) / 10 {
            return u32::MAX;
        }
        // The digit's value, counted up: `From` is not `const` and `as` is not allowed here.
        let (mut digit, mut c) = (0u32, b'0');
        while c < b[i] {
            c += 1;
            digit += 1;
        }
        n = n * 10 + digit;
        i += 1;
    }
    n
}

const _: () = assert!(
    WARREN_VERSION_MAJOR == parse_u32(env!("CARGO_PKG_VERSION_MAJOR"))
        && WARREN_VERSION_MINOR == parse_u32(env!("CARGO_PKG_VERSION_MINOR"))
        && WARREN_VERSION_PATCH == parse_u32(env!("CARGO_PKG_VERSION_PATCH")),
    "src/ffi/version.rs: WARREN_VERSION_* must equal Cargo.toml's version"
);

/// The library's version, `"MAJOR.MINOR.PATCH"` (plus a pre-release suffix if any): a static
/// NUL-terminated string, never to be freed. Compare with the `WARREN_VERSION_*` macros to
/// check that the header matches the library linked.
///
/// # Safety
///
/// None: it takes no argument. (`unsafe` only by the crate's convention for C entry points.)
#[no_mangle]
pub unsafe extern "C" fn warren_version() -> *const c_char {
    ffi_boundary!(default = super::boundary::static_cstr("\0"), {
        super::boundary::static_cstr(VERSION)
    })
}
