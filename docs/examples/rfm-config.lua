-- config.lua of a client whose lapsed customers get their own names
return {
  rfm_segments = {
    [1] = { "gone", "gone", "slipping", "win back", "win back" },
  },
}
