// SPDX-License-Identifier: GPL-2.0-only
//! Link the hypervisor image with the repository's linker script.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| String::from("."));
    println!("cargo:rustc-link-arg-bins=-T{dir}/../linker.ld");
    println!("cargo:rustc-link-arg-bins=--no-pie");
    println!("cargo:rerun-if-changed={dir}/../linker.ld");
    println!("cargo:rerun-if-changed={dir}/../boot/entry.S");
}
