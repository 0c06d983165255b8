// Quotes an argv for a POSIX shell (sh, bash, zsh), so a command the demos print can be pasted and
// runs with exactly these arguments. Words made only of characters no shell treats specially stay
// bare (easier to read); anything else goes in single quotes, inside which only ' itself needs care.

const bare = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** One word, quoted when it needs to be: `CN=Demo key,O=Example` → `'CN=Demo key,O=Example'`. */
export function shellQuoteWord(word) {
  // zsh expands a word that starts with = into a command's path (=ls → /bin/ls).
  if (bare.test(word) && !word.startsWith('=')) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A whole command line: `['keys', 'generate', '--subject', 'CN=a b']` → `keys generate --subject 'CN=a b'`. */
export function shellQuote(argv) {
  return argv.map(shellQuoteWord).join(' ');
}
