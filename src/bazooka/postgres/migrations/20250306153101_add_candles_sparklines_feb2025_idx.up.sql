-- bazooka:no-transaction
create index concurrently if not exists add_candles_sparklines_feb2025_idx on candles (resolution, "startedAt")
  where resolution in ('1HOUR', '4HOURS') and "startedAt" > '2025-02-01 00:00:00+00'::timestamp with time zone;
