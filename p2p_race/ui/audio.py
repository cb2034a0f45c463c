"""Sound effects and music that never stop the game.

When there is no sound device (mixer init fails) or `SDL_AUDIODRIVER=dummy`, the manager
stays usable and silent. Volumes come from the config (0..1) and can be changed live.
"""

from __future__ import annotations

import logging

import pygame

from assets import ASSET_VERSION, cache_dir
from assets.sounds import RATE, ensure_sounds

log = logging.getLogger(__name__)


class Audio:
    def __init__(self, sound_volume: float = 0.8, music_volume: float = 0.5) -> None:
        self.sound_volume = float(sound_volume)
        self.music_volume = float(music_volume)
        self.enabled = False
        self.sounds: dict[str, pygame.mixer.Sound] = {}
        self.played: list[str] = []  # names played, newest last (tests and the HUD use it)
        self._engine: list[pygame.mixer.Channel] = []
        self._music_on = False
        try:
            if not pygame.mixer.get_init():
                pygame.mixer.init(frequency=RATE, size=-16, channels=2, buffer=512)
            paths = ensure_sounds(cache_dir(), ASSET_VERSION)
            for name, path in paths.items():
                if name != "music":
                    self.sounds[name] = pygame.mixer.Sound(str(path))
            self._music_path = paths["music"]
            pygame.mixer.set_num_channels(max(8, pygame.mixer.get_num_channels()))
            pygame.mixer.set_reserved(3)
            self._engine = [pygame.mixer.Channel(i) for i in range(3)]
            self.enabled = True
        except (pygame.error, OSError) as exc:
            log.warning("no sound (%s); the game runs silent", exc)
            self.enabled = False

    def set_volumes(self, sound: float, music: float) -> None:
        self.sound_volume = max(0.0, min(1.0, float(sound)))
        self.music_volume = max(0.0, min(1.0, float(music)))
        if self.enabled:
            try:
                pygame.mixer.music.set_volume(self.music_volume)
            except pygame.error:
                pass

    def play(self, name: str, volume: float = 1.0) -> None:
        self.played.append(name)
        del self.played[:-50]
        snd = self.sounds.get(name)
        if not self.enabled or snd is None:
            return
        try:
            snd.set_volume(self.sound_volume * volume)
            snd.play()
        except pygame.error:
            pass

    def music(self, on: bool = True) -> None:
        if on == self._music_on:
            return
        self._music_on = on
        if not self.enabled:
            return
        try:
            if on:
                pygame.mixer.music.load(str(self._music_path))
                pygame.mixer.music.set_volume(self.music_volume)
                pygame.mixer.music.play(-1, fade_ms=800)
            else:
                pygame.mixer.music.fadeout(400)
        except pygame.error as exc:
            log.info("music unavailable: %s", exc)

    def engine(self, level: float | None) -> None:
        """Engine at `level` (0..1 of top speed); None stops it. Three loops of rising pitch
        play together and are crossfaded by level, so the engine note climbs with speed."""
        if not self.enabled or not self._engine:
            return
        try:
            if level is None:
                for ch in self._engine:
                    ch.fadeout(200)
                return
            level = max(0.0, min(1.0, level))
            if not self._engine[0].get_busy():
                for ch, name in zip(self._engine, ("engine_lo", "engine", "engine_hi"), strict=True):
                    ch.set_volume(0.0)
                    ch.play(self.sounds[name], loops=-1)
            pos = level * 2.0
            base = self.sound_volume * (0.18 + 0.3 * level)
            for i, ch in enumerate(self._engine):
                ch.set_volume(base * max(0.0, 1.0 - abs(pos - i)))
        except pygame.error:
            pass

    def close(self) -> None:
        if self.enabled:
            try:
                pygame.mixer.quit()
            except pygame.error:
                pass
        self.enabled = False
