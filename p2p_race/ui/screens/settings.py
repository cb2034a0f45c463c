"""Settings: volumes, fullscreen, car colour and key bindings; every change is saved to
config.json at once (Config.save writes atomically)."""

from __future__ import annotations

import pygame

from assets import sprites
from assets.sprites import CAR_COLORS
from p2p_race.config import DEFAULT_KEYS
from p2p_race.ui import style
from p2p_race.ui.controls import key_code
from p2p_race.ui.screen import Screen
from p2p_race.ui.screens.backdrop import backdrop

BIND_ACTIONS = ("left", "right", "accelerate", "brake", "pause", "chat")
ROWS = ("Music volume", "Sound volume", "Fullscreen", "Car colour", "Chat after quit",
        *[f"Key: {a}" for a in BIND_ACTIONS], "Reset keys", "Back")
PITCH = 31  # row spacing: every row fits above the key hint


class SettingsScreen(Screen):
    name = "settings"

    def __init__(self, app, over_race: bool = False) -> None:
        super().__init__(app)
        self.index = 0
        self.capturing: str | None = None
        self.over_race = over_race
        self.overlay = over_race
        self.covers_overlays = over_race  # the race shows through, the pause menu does not
        self.flash = ""

    @property
    def row(self) -> str:
        return ROWS[self.index]

    def value(self, row: str) -> str:
        c = self.app.config
        if row == "Music volume":
            return f"{round(c.music_volume * 100)}%"
        if row == "Sound volume":
            return f"{round(c.sound_volume * 100)}%"
        if row == "Fullscreen":
            return "On" if self.app.fullscreen else "Off"
        if row == "Car colour":
            return c.car_color.capitalize()
        if row == "Chat after quit":  # the chat service keeps nearby players' chat going
            return "Stays online" if c.chat_stays_online else "Stops"
        if row.startswith("Key: "):
            action = row[5:]
            if self.capturing == action:
                return "press a key..."
            return _keys(c.keys.get(action, []), " / ") or "-"
        return ""

    def change(self, d: int) -> None:
        c = self.app.config
        row = self.row
        if row == "Music volume":
            c.music_volume = round(max(0.0, min(1.0, c.music_volume + 0.1 * d)), 2)
        elif row == "Sound volume":
            c.sound_volume = round(max(0.0, min(1.0, c.sound_volume + 0.1 * d)), 2)
        elif row == "Fullscreen":
            self.app.set_fullscreen(not self.app.fullscreen)
        elif row == "Car colour":
            names = list(CAR_COLORS)
            i = names.index(c.car_color) if c.car_color in names else 0
            c.car_color = names[(i + d) % len(names)]
        elif row == "Chat after quit":
            c.chat_stays_online = not c.chat_stays_online
            self.flash = ("chat stays online after quit" if c.chat_stays_online
                          else "the chat service stops when the game quits")
        else:
            return
        self.app.save_config()
        self.app.audio.play("move")

    def bind(self, action: str, key: int) -> None:
        """Make `key` the primary key for `action`. If another action had it, it loses it,
        and the player is told; an action left with no key at all gets `action`'s old
        primary key instead (a swap), so no action is ever silently unbound."""
        name = pygame.key.name(key)
        if not name or key_code(name) is None:
            self.flash = "that key cannot be bound"
            return
        keys = self.app.config.keys
        mine = keys.get(action, [])
        old = mine[0] if mine else None
        final = [name, *(n for n in mine[1:] if n != name)]  # the primary replaced, the others kept
        news = []
        for other, names in keys.items():
            if other == action or name not in names:
                continue
            names.remove(name)
            if names:
                news.append(f"{_label(other)} keeps {_keys(names)}")
            elif old and old != name:
                names.append(old)  # swap: it takes over our old key
                news.append(f"swapped: {_label(other)} now {_keys(names)}")
        keys[action] = final
        self.app.save_config()
        self.flash = f"{_label(action)}: {_keys([name])}" + (f" ({'; '.join(news)})" if news else "")

    def row_rect(self, i: int) -> pygame.Rect:
        return pygame.Rect(style.WIDTH // 2 - 310, 92 + 12 + i * PITCH - 3, 620, PITCH - 2)

    def handle_event(self, ev: pygame.event.Event) -> None:
        if ev.type == pygame.MOUSEBUTTONDOWN and getattr(ev, "button", 1) in (1, 3) and not self.capturing:
            for i in range(len(ROWS)):
                if self.row_rect(i).collidepoint(ev.pos):
                    self.index = i
                    if ev.button == 3:
                        self.change(-1)
                    else:
                        self.handle_event(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_RETURN, mod=0,
                                                             unicode="", scancode=0))
            return
        if ev.type != pygame.KEYDOWN:
            return
        if self.capturing:
            if ev.key != pygame.K_ESCAPE:
                self.bind(self.capturing, ev.key)
            self.capturing = None
            return
        move = style.nav(ev.key)
        if move in ("up", "down"):
            self.index = (self.index + (1 if move == "down" else -1)) % len(ROWS)
        elif move in ("left", "right"):
            self.change(1 if move == "right" else -1)
        elif move == "ok":
            row = self.row
            if row.startswith("Key: "):
                self.capturing = row[5:]
            elif row == "Reset keys":
                self.app.config.keys = {k: list(v) for k, v in DEFAULT_KEYS.items()}
                self.app.save_config()
                self.flash = "keys reset"
            elif row == "Back":
                self.app.pop()
            else:
                self.change(1)
        elif ev.key == pygame.K_ESCAPE:
            self.app.pop()

    def update(self, dt: float) -> None:
        if not self.over_race:
            backdrop(self.app).update(dt)

    def draw(self, surface: pygame.Surface) -> None:
        if self.over_race:
            style.dim(surface, 190)
        else:
            backdrop(self.app).draw(surface, veil=140)
        style.title(surface, "SETTINGS", 14, self.app.time, 60)
        r = style.panel(surface, (style.WIDTH // 2 - 320, 92, 640, 20 + PITCH * len(ROWS)))
        for i, row in enumerate(ROWS):
            y = r.top + 12 + i * PITCH
            sel = i == self.index
            col = style.ACCENT if sel else style.TEXT
            if sel:
                pygame.draw.rect(surface, style.ACCENT, (r.left + 10, y - 3, r.w - 20, PITCH - 2), 2, border_radius=8)
            label = row if not row.startswith("Key: ") else "Key: " + row[5:].capitalize()
            style.text(surface, label, (r.left + 28, y + 13), 26, col, anchor="midleft", shadow=1)
            val = self.value(row)
            if row in ("Music volume", "Sound volume"):
                v = self.app.config.music_volume if row.startswith("Music") else self.app.config.sound_volume
                bar = pygame.Rect(r.right - 250, y + 7, 160, 12)
                pygame.draw.rect(surface, (10, 12, 26), bar, border_radius=6)
                pygame.draw.rect(surface, style.ACCENT2, (bar.left, bar.top, int(bar.w * v), bar.h), border_radius=6)
            if row == "Car colour":
                color = self.app.config.car_color
                rgb = CAR_COLORS.get(color, style.TEXT)
                img = self.app.sprites.get(f"car-{color}-12x28", lambda rgb=rgb: sprites.car(rgb, 12, 28))
                img = pygame.transform.rotate(img, -90)
                surface.blit(img, img.get_rect(center=(r.right - 220, y + 13)))
            if val:
                vcol = style.ACCENT2 if (self.capturing and sel) else col
                style.text(surface, val, (r.right - 28, y + 13), 26, vcol, anchor="midright", shadow=1)
        hint = "Up/Down: choose   Left/Right: change   Enter: rebind key   Esc: back"
        if self.capturing:
            hint = f"Press the new key for '{self.capturing}' (Esc cancels)"
        elif self.flash:
            hint = f"saved - {self.flash}"
        elif self.row == "Chat after quit":
            hint = "Stays online: nearby players can still chat with you after you quit"
        style.key_hint(surface, hint, style.HEIGHT - 34)


def _label(action: str) -> str:
    return action.capitalize()


def _keys(names: list[str], sep: str = "/") -> str:
    return sep.join(n.upper() if len(n) == 1 else n.capitalize() for n in names)
