// What `pv-rings` prints, shared by `domu/rings.rs` and `oracle.rs` (through `include!`).

/// What `pv-rings` prints and dom0 must echo as `d<N>| ` lines, in order.
fn ring_lines(name: &str) -> Vec<String> {
    let digits: String = "0123456789".repeat(15);
    vec![
        "--- PV test kernel: rings ---".to_owned(),
        "ok: grant ref 0: the console to d0".to_owned(),
        "ok: grant ref 1: the xenstore page to d0".to_owned(),
        "rings: console line 1 of 3".to_owned(),
        "rings: console line 2 of 3".to_owned(),
        "rings: console line 3 of 3".to_owned(),
        format!("rings: long line {digits}"),
        format!("rings: xenstore name = \"{name}\""),
        format!("ok: XS_READ name is \"{name}\""),
        "ok: XS_READ no/such/node: ENOENT".to_owned(),
        "ok: XS_READ of a path without its NUL: EINVAL".to_owned(),
        "ok: XS_TRANSACTION_START: ENOSYS".to_owned(),
        "ok: XS_READ name again after the errors".to_owned(),
        "ok: console bytes dropped: 0".to_owned(),
    ]
}
