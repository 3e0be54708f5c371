// What the profile page does, through a client generated from the live OpenAPI document: read a
// profile, follow it, read the follow back, and branch on errors' codes. `tsc --strict` proves the
// document's types are usable; running it against a server proves they are true.
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/api.js";

declare const process: { env: Record<string, string | undefined>; exitCode: number };

type Problem = components["schemas"]["Problem"];
type Code = Problem["code"];

const base = process.env.PEERLEDGER_URL ?? "http://127.0.0.1:8000";
const token = process.env.PEERLEDGER_TOKEN ?? "";
const record = process.env.PEERLEDGER_RECORD ?? "A5999000001";
const client = createClient<paths>({ baseUrl: base });
const signedIn = { Authorization: `Bearer ${token}` };
const failures: string[] = [];

function expect(what: string, ok: boolean): void {
  if (!ok) failures.push(what);
}

function codeOf(error: Problem | undefined): Code | undefined {
  // @ts-expect-error: the old error shape (status_code) is not in the contract any more
  void error?.status_code;
  return error?.code;
}

async function main(): Promise<void> {
  const profile = await client.GET("/researchers/{researcher_id}", { params: { path: { researcher_id: record } } });
  expect("the profile reads", profile.response.status === 200 && profile.data !== undefined);
  const tier = profile.data?.trust.tier;
  const known: (typeof tier)[] = ["Emerging", "Established", "Trusted", "Exemplary", null, undefined];
  expect("the tier is one of the enum", known.includes(tier));
  expect("the profile has a validator", (profile.response.headers.get("etag") ?? "").length > 2);

  const follow = await client.PUT("/me/following/{researcher_id}", {
    params: { path: { researcher_id: record } }, headers: signedIn,
  });
  expect("a new follow is a 201", follow.response.status === 201 && follow.data?.following === true);
  const position = follow.data?.position;

  const after = await client.GET("/researchers/{researcher_id}", {
    params: { path: { researcher_id: record }, query: { consistent_with: String(position ?? "") } },
    headers: signedIn,
  });
  expect("the follow reads back", after.data?.following === true);

  const missing = await client.GET("/researchers/{researcher_id}", { params: { path: { researcher_id: "A404" } } });
  const notFound: Code | undefined = codeOf(missing.error);
  expect("an unknown record is not_found", missing.response.status === 404 && notFound === "not_found");
  expect("problems are problem+json", missing.response.headers.get("content-type") === "application/problem+json");

  const invite = await client.POST("/researchers/{researcher_id}/invitations", {
    params: { path: { researcher_id: record } }, body: { message: "Shall we work together?" }, headers: signedIn,
  });
  const refused = codeOf(invite.error);
  switch (refused) {
    case "sender_not_verified":
    case "recipient_unclaimed":
      break;  // what a reader without a verified record hears, whoever the record is
    default:
      failures.push(`an invitation without a verified record is refused with a code (got ${String(refused)})`);
  }

  const anonymous = await client.GET("/researchers/{researcher_id}/trust", {
    params: { path: { researcher_id: record } }, headers: { Authorization: "Bearer stale" },
  });
  expect("a stale token on a public route reads as anonymous", anonymous.response.status === 200);

  console.log(JSON.stringify({ checked: 9, failures }));
  process.exitCode = failures.length ? 1 : 0;
}

await main();
