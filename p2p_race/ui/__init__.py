"""The pygame game window: app loop, screens, rendering. Pygame code only draws and reads
input; the race itself comes from `p2p_race.sim` through a `RaceView`."""

import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # before any `import pygame`
