"""The Panda3D client (desktop and VR): `agora client`.

Pure layer (no Panda3D, no sockets): `model` (what the client knows), `interp`
(remote entities), `predict` (own avatar), `chat` (tabs, history, speech). I/O:
`net` (network thread). View: `scene`, `hud`, `app` (the frame task). VR tracking:
`pose`. Command line: `cli`.
"""
