export type { Acknowledgements, LimitPublisher } from './limit-publisher.js';
export { RedisLimitPublisher } from './redis-limit-publisher.js';
