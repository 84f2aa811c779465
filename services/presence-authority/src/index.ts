export { type AuthorityConfig, readAuthorityConfig } from './config.js';
export { Authority, type AuthorityDeps, END_CAUSE_NAME } from './authority.js';
