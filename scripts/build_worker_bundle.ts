// Builds the Deno worker bundle into dist/deno/ (make runs this; the source launcher builds it
// the same way when it is missing or older than the sources). See src/master/worker_bundle.ts.

import process from "node:process";
import { buildBundle, SOURCE_BUNDLE_DIR } from "../src/master/worker_bundle.ts";

buildBundle(process.execPath, SOURCE_BUNDLE_DIR);
