"""Stand-ins for the outside services Switchboard talks to, served over loopback HTTP like the real ones."""
