-- One Google request's reservation against the day's budget, in one round trip: every Google request passes here, and
-- as a Prisma transaction of six statements under the day's lock it capped forwarding at about four requests in
-- flight (test/forwarding-adaptive.test.ts). The rules are the ones QuotaLedger documents: the day's total under the
-- limit, and beyond its fair share (limit / contenders) an account takes only what no other contender is still
-- guaranteed. `lock_key` is the day's advisory lock, shared with QuotaLedger.exhaust; `contenders` are the accounts
-- with work waiting, read by the caller's statement. Returns 'granted', 'exhausted' or 'fair_share'.
CREATE FUNCTION photo_relay_reserve_quota(lock_key text, quota_day date, account uuid, requests integer, daily_limit integer, contenders uuid[])
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  total integer;
  mine integer;
  share integer;
  guaranteed_to_others integer;
  everyone uuid[];
BEGIN
  PERFORM pg_advisory_xact_lock(hashtextextended(lock_key, 0));
  SELECT coalesce(sum(used), 0), coalesce(sum(used) FILTER (WHERE account_id = account), 0)
    INTO total, mine FROM google_quota_usage WHERE day = quota_day;
  IF total + requests > daily_limit THEN
    RETURN 'exhausted';
  END IF;
  everyone := ARRAY(SELECT DISTINCT c FROM unnest(array_append(contenders, account)) AS c);
  share := daily_limit / cardinality(everyone);
  IF mine + requests > share THEN
    SELECT coalesce(sum(greatest(0, share - coalesce(u.used, 0))), 0) INTO guaranteed_to_others
      FROM unnest(everyone) AS c
      LEFT JOIN google_quota_usage u ON u.day = quota_day AND u.account_id = c
      WHERE c <> account;
    IF total + requests + guaranteed_to_others > daily_limit THEN
      RETURN 'fair_share';
    END IF;
  END IF;
  INSERT INTO google_quota_usage (day, account_id, used) VALUES (quota_day, account, requests)
    ON CONFLICT (day, account_id) DO UPDATE SET used = google_quota_usage.used + requests;
  RETURN 'granted';
END;
$$;
