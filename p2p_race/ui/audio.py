"""Sound effects, music and the engine, never stopping the game.

Two music tracks (menu and race) are synthesized once into the asset cache; the engine is
synthesized live (assets.sounds.EngineSynth) in short chunks queued on a reserved channel,
so its note climbs smoothly with speed. When there is no sound device (mixer init fails)
or `SDL_AUDIODRIVER=dummy`, the manager stays usable and silent. Volumes come from the
config (0..1) and can be changed live.
"""

from __future__ import annotations

import logging
from array import array

import pygame

from assets import ASSET_VERSION, cache_dir
from assets.sounds import RATE, EngineSynth, ensure_sounds

MUSIC = {"menu": "menu_music", "race": "music"}  # track -> sound name in assets.sounds

log = logging.getLogger(__name__)


class Audio:
    def __init__(self, sound_volume: float = 0.8, music_volume: float = 0.5) -> None:
        self.sound_volume = float(sound_volume)
        self.music_volume = float(music_volume)
        self.enabled = False
        self.sounds: dict[str, pygame.mixer.Sound] = {}
        self.played: list[str] = []  # names played, newest last (tests and the HUD use it)
        self._engine: pygame.mixer.Channel | None = None
        self._synth: EngineSynth | None = None
        self._channels = 2
        self.track: str | None = None  # the music playing ("menu", "race") or None
        self.engine_level: float | None = None  # the level the engine was last driven at
        try:
            if not pygame.mixer.get_init():
                pygame.mixer.init(frequency=RATE, size=-16, channels=2, buffer=512)
            paths = ensure_sounds(cache_dir(), ASSET_VERSION)
            for name, path in paths.items():
                if name not in MUSIC.values():
                    self.sounds[name] = pygame.mixer.Sound(str(path))
            self._music_paths = {track: paths[name] for track, name in MUSIC.items()}
            pygame.mixer.set_num_channels(max(8, pygame.mixer.get_num_channels()))
            pygame.mixer.set_reserved(1)
            freq, size, channels = pygame.mixer.get_init()
            if size == -16:
                self._engine = pygame.mixer.Channel(0)
                self._synth = EngineSynth(freq)
                self._channels = channels
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

    def music(self, on: bool | str = True) -> None:
        """Play a track ("menu", "race"; True = "menu"), or fade the music out (False)."""
        track = ("menu" if on is True else on) if on else None
        if track == self.track:
            return
        self.track = track
        if not self.enabled:
            return
        try:
            if track in self._music_paths:
                pygame.mixer.music.load(str(self._music_paths[track]))
                pygame.mixer.music.set_volume(self.music_volume)
                pygame.mixer.music.play(-1, fade_ms=800)
            else:
                pygame.mixer.music.fadeout(400)
        except pygame.error as exc:
            log.info("music unavailable: %s", exc)

    def engine(self, level: float | None) -> None:
        """Engine at `level` (0..1 of top speed, a boost may go beyond); None stops it.
        Called every frame: it keeps one synthesized chunk playing and the next queued,
        each gliding to the latest level."""
        self.engine_level = None if level is None else max(0.0, min(1.2, level))
        ch, synth = self._engine, self._synth
        if not self.enabled or ch is None or synth is None:
            return
        try:
            if level is None:
                ch.fadeout(200)
                return
            lv = self.engine_level
            ch.set_volume(self.sound_volume * (0.18 + 0.3 * min(1.0, lv)))
            if not ch.get_busy():
                ch.play(self._chunk(synth, lv))
                ch.queue(self._chunk(synth, lv))
            elif ch.get_queue() is None:
                ch.queue(self._chunk(synth, lv))
        except pygame.error:
            pass

    def _chunk(self, synth: EngineSynth, level: float) -> pygame.mixer.Sound:
        pcm = array("h", (int(v * 26000) for v in synth.render(level)))
        if self._channels == 2:
            both = array("h", bytes(len(pcm) * 4))
            both[0::2] = pcm
            both[1::2] = pcm
            pcm = both
        return pygame.mixer.Sound(buffer=pcm.tobytes())

    def close(self) -> None:
        if self.enabled:
            try:
                pygame.mixer.quit()
            except pygame.error:
                pass
        self.enabled = False
