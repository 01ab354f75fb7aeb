"""What both daemons' command lines share: flag types, the common flags and their checks (:mod:`.flags`)."""
