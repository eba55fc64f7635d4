// Splits APPSERVE_CMD_ARGS the way a POSIX shell splits words (gunicorn uses
// shlex), so quoting works the same as on the command line.

/** Thrown for unbalanced quotes or a trailing backslash. */
export class ShellSplitError extends Error {}

export function shellSplit(text: string): string[] {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end === -1) throw new ShellSplitError(`unterminated single quote at character ${i + 1}`);
      word += text.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === "\\" && '"\\$`'.includes(text[j + 1] ?? "")) j++;
        word += text[j];
      }
      if (j >= text.length) {
        throw new ShellSplitError(`unterminated double quote at character ${i + 1}`);
      }
      i = j;
      inWord = true;
    } else if (c === "\\") {
      if (i + 1 >= text.length) throw new ShellSplitError("trailing backslash");
      word += text[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}
