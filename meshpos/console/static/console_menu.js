// the Menu, Staff, Settings and Audit sections (filled in below)
