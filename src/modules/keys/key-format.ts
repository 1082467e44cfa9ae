import { randomBytes } from 'node:crypto';

/** `lpf_` + 32 lowercase hex characters (128 bits). */
export const KEY_PATTERN = /^lpf_[0-9a-f]{32}$/;
export const KEY_PREFIX_LENGTH = 8;

export const generateKey = (): string => `lpf_${randomBytes(16).toString('hex')}`;
export const isKeyShaped = (value: string): boolean => KEY_PATTERN.test(value);
/** "lpf_1f05" → shown as "lpf_1f05..." */
export const keyPrefix = (key: string): string => key.slice(0, KEY_PREFIX_LENGTH);
export const keyPreview = (prefix: string): string => `${prefix}...`;
