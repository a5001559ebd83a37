// The one rule for names of projects, facilities, plans, machines, switches and pools: they
// appear in owner keys, file names and switch configs, so they stay plain.
export const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const NAME_RULE = '1-63 lower-case letters, digits, ".", "_" or "-", starting with a letter or digit';
