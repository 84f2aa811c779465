export {
  type Location, type PieAccount, type PieItem, type PiePending, type PieScram, type PieHash, type Problem, type Subscription,
  HASH_BYTES, NS_PIE, SCRAM_MECHANISM, where,
} from './model.js';
export { parsePie, decodeBase64, type PieHost, type PieParseResult, type IncludeReader } from './parse.js';
export { validateAccounts, LIMITS, MIN_SAFE_ITERATIONS, type ValidateOptions, type Validated } from './validate.js';
export { writeDocument, writeUser, documentHead, DOCUMENT_TAIL, BLOCK_LIST_NAME } from './write.js';
export { generatePopulation, populationAccount, populationUser, populationPassword, type PopulationSpec } from './generate.js';
export { PieSyntaxError, MAX_USER_DEPTH, MAX_TEXT } from './xml-tree.js';
export { accountFromWire, accountToWire } from './wire.js';
