"""The pygame game window: app loop, screens, rendering. Pygame code only draws and reads
input; the race itself comes from `p2p_race.sim` through a `RaceView`."""
