import { hashPassword, newRootPassword, sha512Crypt } from "../../provider/servers/passwords";

// Test vectors from Ulrich Drepper's SHA-crypt specification.
test.each([
  [
    "Hello world!",
    "saltstring",
    5000,
    "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
  ],
  [
    "Hello world!",
    "saltstringsaltstring",
    10000,
    "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
  ],
  [
    "This is just a test",
    "toolongsaltstring",
    5000,
    "$6$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0",
  ],
])("sha512Crypt(%j, %j, %d)", (password, salt, rounds, expected) => {
  expect(sha512Crypt(password, salt, rounds)).toBe(expected);
});

test("new passwords are long and random; hashes are salted", async () => {
  const a = newRootPassword();
  expect(a).toMatch(/^[A-Za-z0-9]{24}$/);
  expect(newRootPassword()).not.toBe(a);
  const h1 = await hashPassword(a);
  expect(h1).toMatch(/^\$6\$rounds=1000\$[./0-9A-Za-z]{16}\$[./0-9A-Za-z]{86}$/);
  expect(await hashPassword(a)).not.toBe(h1);
  const salt = h1.split("$")[3]!;
  expect(sha512Crypt(a, salt, 1000)).toBe(h1);
});
