"""Meta-World demonstrations and evaluation for the lerobot_multi demo.

`sim` holds one task's simulator, its placements and the feature layout; `metaworld_data` records
scripted-expert episodes into LeRobot v3.0 datasets with lerobot's own writer; `evaluate` runs a
success-rate loop that rebuilds observations exactly like the recorder. All need the `sim` extra
(metaworld==3.1.1, mujoco==3.3.0, packaging) and, for images, `MUJOCO_GL=egl` or `osmesa`.
Submodules are not imported here so that `import lerobot_multi.demo` stays cheap without the extra.
"""
