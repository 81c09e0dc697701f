//! `rill completions SHELL`: prints a completion script generated from the clap
//! definition, so it always matches the binary.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::output::print_stdout;
use super::Cli;

const EXAMPLES: &str = "\
Examples:
  rill completions bash > ~/.local/share/bash-completion/completions/rill
  rill completions zsh > ~/.zfunc/_rill
  rill completions fish > ~/.config/fish/completions/rill.fish";

/// Arguments of `rill completions`.
#[derive(Debug, Args)]
#[command(after_help = EXAMPLES)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Prints the completion script for the chosen shell.
pub fn run(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "rill", &mut script);
    print_stdout(&String::from_utf8_lossy(&script))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_mention_the_subcommands() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "rill", &mut script);
            let text = String::from_utf8_lossy(&script);
            assert!(
                text.contains("produce") && text.contains("tail"),
                "{shell:?}"
            );
        }
    }
}
