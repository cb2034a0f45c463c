"""One module per `p2p-race` subcommand (see p2p_race.cli)."""
