// Version and git commit of this build. The commit is injected by
// `bun build --define DKV_BUILD_COMMIT=...`; a source checkout reports "dev".
import packageJson from "../../package.json" with { type: "json" };

declare const DKV_BUILD_COMMIT: string | undefined;
declare const DKV_BUILD_VERSION: string | undefined;

/** A release build may stamp its own version (release/release.ts passes --define DKV_BUILD_VERSION). */
export const VERSION: string = typeof DKV_BUILD_VERSION === "string" ? DKV_BUILD_VERSION : packageJson.version;
export const COMMIT: string = typeof DKV_BUILD_COMMIT === "string" ? DKV_BUILD_COMMIT : "dev";

export function versionLine(): string {
  return `dkv ${VERSION} (commit ${COMMIT}, bun ${Bun.version})`;
}
