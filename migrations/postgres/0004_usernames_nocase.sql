-- Usernames are case-insensitive: `Alice` and `alice` are one user.
CREATE UNIQUE INDEX users_username_nocase ON users (lower(username));
