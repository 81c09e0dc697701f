//! `rill`: the Rill command line.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("rill: the command line is not built yet")
}
