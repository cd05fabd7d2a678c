"""The Panda3D client (desktop, VR, offscreen)."""
