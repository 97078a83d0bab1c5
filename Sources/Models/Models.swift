// Models: owned by its issue; see ../shared/DESIGN.md.
