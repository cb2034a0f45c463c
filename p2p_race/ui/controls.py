"""Keyboard bindings (from config) and gamepads turned into driving inputs.

Held keys are tracked from KEYDOWN/KEYUP events (not `pygame.key.get_pressed`) so synthetic
events drive the game exactly like a keyboard does. Gamepads: left stick or d-pad steer,
A / right trigger / d-pad up accelerate, B / left trigger / d-pad down brake, Start pauses.
Pad events also produce menu key events (arrows, Enter, Escape) so every screen works
with a pad alone.
"""

from __future__ import annotations

import logging

import pygame

log = logging.getLogger(__name__)

DEADZONE = 0.35
ACTIONS = ("left", "right", "accelerate", "brake", "pause", "chat")
PAD_MENU_BUTTONS = {0: pygame.K_RETURN, 1: pygame.K_ESCAPE, 7: pygame.K_ESCAPE, 9: pygame.K_ESCAPE}


def key_code(name: str) -> int | None:
    try:
        return pygame.key.key_code(name)
    except ValueError:
        return None


def key_name(code: int) -> str:
    return pygame.key.name(code) or f"key{code}"


class Controls:
    def __init__(self, keys: dict[str, list[str]]) -> None:
        self.bindings: dict[str, set[int]] = {}
        self.set_bindings(keys)
        self.held: set[int] = set()
        self.axis_x = 0.0
        self.axis_y = 0.0
        self.trig_r = -1.0
        self.trig_l = -1.0
        self.hat = (0, 0)
        self.buttons: set[int] = set()
        self.pads: dict[int, pygame.joystick.JoystickType] = {}

    def set_bindings(self, keys: dict[str, list[str]]) -> None:
        self.bindings = {}
        for action, names in keys.items():
            codes = {c for c in (key_code(n) for n in names) if c is not None}
            bad = [n for n in names if key_code(n) is None]
            if bad:
                log.warning("unknown key names for %s: %s", action, bad)
            self.bindings[action] = codes

    def is_action(self, ev: pygame.event.Event, action: str) -> bool:
        return ev.type == pygame.KEYDOWN and ev.key in self.bindings.get(action, ())

    def _down(self, action: str) -> bool:
        return any(k in self.held for k in self.bindings.get(action, ()))

    def steer_throttle(self) -> tuple[int, int]:
        """(steer -1/0/1, throttle -1/0/1) from keys and pads combined."""
        steer = int(self._down("right")) - int(self._down("left"))
        if steer == 0:
            if self.axis_x > DEADZONE or self.hat[0] > 0:
                steer = 1
            elif self.axis_x < -DEADZONE or self.hat[0] < 0:
                steer = -1
        accel = self._down("accelerate") or 0 in self.buttons or self.trig_r > 0.0 or self.hat[1] > 0
        brake = self._down("brake") or 1 in self.buttons or self.trig_l > 0.0 or self.hat[1] < 0
        return steer, int(accel) - int(brake)

    def release_all(self) -> None:
        self.held.clear()
        self.buttons.clear()
        self.axis_x = self.axis_y = 0.0
        self.trig_l = self.trig_r = -1.0
        self.hat = (0, 0)

    def feed(self, ev: pygame.event.Event) -> list[pygame.event.Event]:
        """Track state from `ev`; return menu key events synthesized from pad input."""
        out: list[pygame.event.Event] = []
        t = ev.type
        if t == pygame.KEYDOWN:
            self.held.add(ev.key)
        elif t == pygame.KEYUP:
            self.held.discard(ev.key)
        elif t == pygame.JOYDEVICEADDED:
            try:
                js = pygame.joystick.Joystick(ev.device_index)
                self.pads[js.get_instance_id()] = js
                log.info("gamepad connected: %s", js.get_name())
            except pygame.error as exc:
                log.warning("gamepad: %s", exc)
        elif t == pygame.JOYDEVICEREMOVED:
            self.pads.pop(getattr(ev, "instance_id", -1), None)
            self.release_all()
        elif t == pygame.JOYAXISMOTION:
            v = float(ev.value)
            if ev.axis == 0:
                old = self.axis_x
                self.axis_x = v
                if abs(old) <= DEADZONE < abs(v):
                    out.append(_key(pygame.K_RIGHT if v > 0 else pygame.K_LEFT))
            elif ev.axis == 1:
                old = self.axis_y
                self.axis_y = v
                if abs(old) <= DEADZONE < abs(v):
                    out.append(_key(pygame.K_DOWN if v > 0 else pygame.K_UP))
            elif ev.axis == 5:
                self.trig_r = v
            elif ev.axis == 4:
                self.trig_l = v
        elif t == pygame.JOYHATMOTION:
            x, y = ev.value
            if x and x != self.hat[0]:
                out.append(_key(pygame.K_RIGHT if x > 0 else pygame.K_LEFT))
            if y and y != self.hat[1]:
                out.append(_key(pygame.K_UP if y > 0 else pygame.K_DOWN))
            self.hat = (x, y)
        elif t == pygame.JOYBUTTONDOWN:
            self.buttons.add(ev.button)
            if ev.button in PAD_MENU_BUTTONS:
                out.append(_key(PAD_MENU_BUTTONS[ev.button], ev.button))
        elif t == pygame.JOYBUTTONUP:
            self.buttons.discard(ev.button)
        return out


def _key(code: int, button: int = -1) -> pygame.event.Event:
    """A menu key event made from pad input (`from_pad`, `pad_button` tell it apart)."""
    return pygame.event.Event(pygame.KEYDOWN, key=code, mod=0, unicode="", scancode=0,
                              from_pad=True, pad_button=button)
