/** Injection token of the `DatabaseTarget` the app was started on. */
export const DATABASE_TARGET = Symbol('DATABASE_TARGET');
