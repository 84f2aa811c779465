export { type AuthorityConfig, readAuthorityConfig } from './config.js';
export { Authority, type AuthorityDeps } from './authority.js';
export { END_CAUSE_NAME } from './presence.js';
