// SPDX-License-Identifier: GPL-2.0-only
//! xm's help texts and their layout (`main.py`'s `SUBCOMMAND_HELP`,
//! `SUBCOMMAND_OPTIONS`, `cmdHelp`, `shortHelp`), for the subcommands this
//! `xm` has.

/// `(name, argument synopsis, description)`.
const SUBCOMMAND_HELP: &[(&str, &str, &str)] = &[
    ("dmesg", "[-c|--clear]", "Read and/or clear Xend's message buffer."),
    ("domid", "<DomainName>", "Convert a domain name to domain id."),
    ("domname", "<DomId>", "Convert a domain id to domain name."),
    ("info", "[-c|--config] [-n|--numa]", "Get information about Xen host."),
    ("list", "[options] [Domain, ...]", "List information about all/some domains."),
];

/// One option's help: `(short, long, description)`.
type OptionHelp = (&'static str, &'static str, &'static str);

/// `(name, options)`.
const SUBCOMMAND_OPTIONS: &[(&str, &[OptionHelp])] = &[
    ("dmesg", &[("-c", "--clear", "Clear dmesg buffer as well as printing it")]),
    (
        "list",
        &[
            ("-l", "--long", "Output all VM details in SXP"),
            ("", "--label", "Include security labels"),
            ("", "--state=<state>", "Select only VMs with the specified state"),
            ("", "--pool=<pool>", "Select only VMs in specified cpu pool"),
        ],
    ),
    (
        "info",
        &[
            ("-c", "--config", "List Xend configuration parameters"),
            ("-n", "--numa", "List host NUMA topology information"),
        ],
    ),
];

/// The head of every help text.
const USAGE_HELP: &str = "Usage: xm <subcommand> [args]\n\n\
Control, list, and manipulate Xen guest instances.\n";

/// The foot of the short help.
const USAGE_FOOTER: &str = "<Domain> can either be the Domain Name or Id.\n\
For more help on 'xm' see the xm(1) man page.\n\
For more help on 'xm create' see the xmdomain.cfg(5)  man page.\n";

/// The usage of subcommand `cmd` (or of one it is a prefix of), as
/// `cmdHelp`; the short help if there is none.
pub fn cmd_help(cmd: &str) {
    print!("{}", cmd_help_text(cmd));
}

/// The text [`cmd_help`] prints.
fn cmd_help_text(cmd: &str) -> String {
    let entry = SUBCOMMAND_HELP
        .iter()
        .find(|(n, ..)| *n == cmd)
        .or_else(|| SUBCOMMAND_HELP.iter().find(|(n, ..)| n.starts_with(cmd)));
    let Some((name, args, desc)) = entry else { return short_help_text() };
    let mut out = format!("Usage: xm {name} {args}\n\n{desc}\n");
    if let Some((_, opts)) = SUBCOMMAND_OPTIONS.iter().find(|(n, _)| n == name) {
        for (short, long, d) in *opts {
            let optdesc = match (short.is_empty(), long.is_empty()) {
                (false, false) => format!("{short}, {long}"),
                (false, true) => (*short).to_owned(),
                _ => (*long).to_owned(),
            };
            out.push_str(&format!("  {optdesc:<30} {d:<43}\n"));
        }
    }
    out.push('\n');
    out
}

/// The help `xm` alone prints (`shortHelp`), with the commands it has.
pub fn short_help() {
    print!("{}", short_help_text());
}

/// The text [`short_help`] prints.
fn short_help_text() -> String {
    let mut out = format!("{USAGE_HELP}\nCommon 'xm' commands:\n\n");
    for (name, _, desc) in SUBCOMMAND_HELP {
        out.push_str(&format!(" {name:<20} {desc:<50}\n"));
    }
    out.push('\n');
    out.push_str(USAGE_FOOTER);
    out.push_str("For a complete list of subcommands run 'xm help'.\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmd_help_layout() {
        let t = cmd_help_text("dmesg");
        assert!(t.starts_with(
            "Usage: xm dmesg [-c|--clear]\n\nRead and/or clear Xend's message buffer.\n"
        ));
        assert!(t.contains(
            "  -c, --clear                    Clear dmesg buffer as well as printing it  \n"
        ));
        // A prefix finds its command, as xm's cmdHelp.
        assert!(cmd_help_text("inf").starts_with("Usage: xm info "));
        assert!(cmd_help_text("nosuch").starts_with("Usage: xm <subcommand> [args]"));
    }
}
