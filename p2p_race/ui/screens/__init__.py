"""The game's own screens (menu, settings, race, results...). Screens of other areas plug
in through `p2p_race.ui.registry`."""
