SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;
SET default_tablespace = '';
SET default_table_access_method = heap;
CREATE TABLE public.affiliate_info (
    address character varying(255) NOT NULL,
    "affiliateEarnings" numeric DEFAULT '0'::numeric NOT NULL,
    "referredMakerTrades" integer NOT NULL,
    "referredTakerTrades" integer NOT NULL,
    "totalReferredUsers" integer NOT NULL,
    "firstReferralBlockHeight" bigint NOT NULL,
    "referredTotalVolume" numeric NOT NULL,
    "totalReferredTakerFees" numeric DEFAULT '0'::numeric NOT NULL,
    "totalReferredMakerFees" numeric DEFAULT '0'::numeric NOT NULL,
    "totalReferredMakerRebates" numeric DEFAULT '0'::numeric NOT NULL
);
CREATE TABLE public.affiliate_referred_users (
    "refereeAddress" character varying(255) NOT NULL,
    "affiliateAddress" character varying(255) NOT NULL,
    "referredAtBlock" bigint NOT NULL
);
CREATE TABLE public.asset_positions (
    id uuid NOT NULL,
    "assetId" character varying(255) NOT NULL,
    "subaccountId" uuid NOT NULL,
    size numeric NOT NULL,
    "isLong" boolean NOT NULL
);
CREATE TABLE public.assets (
    id character varying(255) NOT NULL,
    "atomicResolution" integer NOT NULL,
    "hasMarket" boolean NOT NULL,
    "marketId" integer,
    symbol character varying(255) NOT NULL
);
CREATE TABLE public.blocks (
    "blockHeight" bigint NOT NULL,
    "time" timestamp with time zone NOT NULL
);
CREATE TABLE public.bridge_information (
    id character varying(255) NOT NULL,
    from_address character varying(255) NOT NULL,
    chain_id character varying(255) NOT NULL,
    amount character varying(255) NOT NULL,
    transaction_hash character varying(255),
    created_at timestamp with time zone NOT NULL
);
CREATE TABLE public.candles (
    id uuid NOT NULL,
    "startedAt" timestamp with time zone NOT NULL,
    ticker character varying(255) NOT NULL,
    resolution text NOT NULL,
    low numeric NOT NULL,
    high numeric NOT NULL,
    open numeric NOT NULL,
    close numeric NOT NULL,
    "baseTokenVolume" numeric NOT NULL,
    "usdVolume" numeric NOT NULL,
    trades integer NOT NULL,
    "startingOpenInterest" numeric NOT NULL,
    "orderbookMidPriceOpen" numeric,
    "orderbookMidPriceClose" numeric,
    CONSTRAINT candles_resolution_check CHECK ((resolution = ANY (ARRAY['1MIN'::text, '5MINS'::text, '15MINS'::text, '30MINS'::text, '1HOUR'::text, '4HOURS'::text, '1DAY'::text])))
);
CREATE TABLE public.compliance_data (
    address character varying(255) NOT NULL,
    provider text NOT NULL,
    chain character varying(255),
    blocked boolean NOT NULL,
    "riskScore" numeric(8,2),
    "updatedAt" timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    CONSTRAINT compliance_data_provider_check CHECK ((provider = 'ELLIPTIC'::text))
);
CREATE TABLE public.compliance_status (
    address character varying(255) NOT NULL,
    status text NOT NULL,
    reason text,
    "createdAt" timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL,
    "updatedAt" timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL
);
CREATE TABLE public.fills (
    id uuid NOT NULL,
    "subaccountId" uuid NOT NULL,
    side text NOT NULL,
    liquidity text NOT NULL,
    type text NOT NULL,
    "clobPairId" bigint NOT NULL,
    "orderId" uuid,
    size numeric NOT NULL,
    price numeric NOT NULL,
    "quoteAmount" numeric NOT NULL,
    "eventId" bytea NOT NULL,
    "transactionHash" character varying(255) NOT NULL,
    "createdAt" timestamp with time zone NOT NULL,
    "createdAtHeight" bigint NOT NULL,
    "clientMetadata" bigint,
    fee character varying(255) DEFAULT '0'::character varying NOT NULL,
    "affiliateRevShare" numeric DEFAULT '0'::numeric NOT NULL,
    "builderAddress" character varying(255),
    "builderFee" character varying(255),
    "orderRouterAddress" character varying(255),
    "orderRouterFee" character varying(255),
    "positionSizeBefore" numeric,
    "entryPriceBefore" numeric,
    "positionSideBefore" text,
    CONSTRAINT fills_liquidity_check CHECK ((liquidity = ANY (ARRAY['TAKER'::text, 'MAKER'::text]))),
    CONSTRAINT "fills_positionSideBefore_check" CHECK (("positionSideBefore" = ANY (ARRAY['LONG'::text, 'SHORT'::text]))),
    CONSTRAINT fills_side_check CHECK ((side = ANY (ARRAY['BUY'::text, 'SELL'::text])))
);
CREATE TABLE public.firebase_notification_tokens (
    id integer NOT NULL,
    token character varying(255) NOT NULL,
    address character varying(255) NOT NULL,
    language character varying(255) NOT NULL,
    "updatedAt" timestamp with time zone DEFAULT CURRENT_TIMESTAMP NOT NULL
);
CREATE SEQUENCE public.firebase_notification_tokens_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.firebase_notification_tokens_id_seq OWNED BY public.firebase_notification_tokens.id;
CREATE TABLE public.funding_index_updates (
    id uuid NOT NULL,
    "perpetualId" bigint NOT NULL,
    "eventId" bytea NOT NULL,
    rate numeric NOT NULL,
    "oraclePrice" numeric NOT NULL,
    "fundingIndex" numeric NOT NULL,
    "effectiveAt" timestamp with time zone NOT NULL,
    "effectiveAtHeight" bigint NOT NULL
);
CREATE TABLE public.funding_payments (
    "subaccountId" uuid NOT NULL,
    "createdAt" timestamp with time zone NOT NULL,
    "createdAtHeight" bigint NOT NULL,
    "perpetualId" bigint NOT NULL,
    ticker text NOT NULL,
    "oraclePrice" numeric NOT NULL,
    size numeric NOT NULL,
    side text NOT NULL,
    rate numeric NOT NULL,
    payment numeric NOT NULL,
    "fundingIndex" numeric NOT NULL,
    CONSTRAINT funding_payments_side_check CHECK ((side = ANY (ARRAY['LONG'::text, 'SHORT'::text])))
);
CREATE TABLE public.knex_migrations (
    id integer NOT NULL,
    name character varying(255),
    batch integer,
    migration_time timestamp with time zone
);
CREATE SEQUENCE public.knex_migrations_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.knex_migrations_id_seq OWNED BY public.knex_migrations.id;
CREATE TABLE public.knex_migrations_lock (
    index integer NOT NULL,
    is_locked integer
);
CREATE SEQUENCE public.knex_migrations_lock_index_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;
ALTER SEQUENCE public.knex_migrations_lock_index_seq OWNED BY public.knex_migrations_lock.index;
CREATE TABLE public.leaderboard_pnl (
    address character varying(255) NOT NULL,
    "timeSpan" text NOT NULL,
    pnl character varying(255) NOT NULL,
    "currentEquity" character varying(255) NOT NULL,
    rank integer NOT NULL,
    CONSTRAINT "leaderboard_pnl_timeSpan_check" CHECK (("timeSpan" = ANY (ARRAY['ONE_DAY'::text, 'SEVEN_DAYS'::text, 'THIRTY_DAYS'::text, 'ONE_YEAR'::text, 'ALL_TIME'::text])))
);
CREATE TABLE public.liquidity_tiers (
    id integer NOT NULL,
    name character varying(255),
    "initialMarginPpm" bigint NOT NULL,
    "maintenanceFractionPpm" bigint NOT NULL,
    "openInterestLowerCap" character varying(255) DEFAULT NULL::character varying,
    "openInterestUpperCap" character varying(255) DEFAULT NULL::character varying
);
CREATE TABLE public.markets (
    id integer NOT NULL,
    pair character varying(255) NOT NULL,
    exponent integer NOT NULL,
    "minPriceChangePpm" integer NOT NULL,
    "oraclePrice" numeric
);
CREATE TABLE public.oracle_prices (
    id uuid NOT NULL,
    "marketId" integer NOT NULL,
    price numeric NOT NULL,
    "effectiveAt" timestamp with time zone NOT NULL,
    "effectiveAtHeight" bigint NOT NULL
);
CREATE TABLE public.orders (
    id uuid NOT NULL,
    "subaccountId" uuid NOT NULL,
    "clientId" bigint NOT NULL,
    "clobPairId" bigint NOT NULL,
    side text NOT NULL,
    size numeric NOT NULL,
    "totalFilled" numeric NOT NULL,
    price numeric NOT NULL,
    type text NOT NULL,
    status text NOT NULL,
    "timeInForce" text NOT NULL,
    "reduceOnly" boolean NOT NULL,
    "orderFlags" bigint NOT NULL,
    "goodTilBlock" bigint,
    "goodTilBlockTime" timestamp with time zone,
    "createdAtHeight" bigint,
    "clientMetadata" bigint NOT NULL,
    "triggerPrice" numeric,
    "updatedAt" timestamp with time zone,
    "updatedAtHeight" bigint,
    duration character varying(255),
    "interval" character varying(255),
    "priceTolerance" character varying(255),
    "builderAddress" character varying(255),
    "feePpm" character varying(255),
    "orderRouterAddress" character varying(255),
    "createdAt" timestamp with time zone,
    CONSTRAINT good_til_block_or_good_til_block_time_non_null CHECK ((num_nonnulls("goodTilBlock", "goodTilBlockTime") = 1)),
    CONSTRAINT orders_side_check CHECK ((side = ANY (ARRAY['BUY'::text, 'SELL'::text]))),
    CONSTRAINT "orders_timeInForce_check" CHECK (("timeInForce" = ANY (ARRAY['GTT'::text, 'FOK'::text, 'IOC'::text, 'POST_ONLY'::text])))
);
CREATE TABLE public.permission_approval (
    suborg_id text NOT NULL,
    chain_id text NOT NULL,
    approval text NOT NULL
);
CREATE TABLE public.perpetual_markets (
    id bigint NOT NULL,
    "clobPairId" bigint NOT NULL,
    ticker character varying(255) NOT NULL,
    "marketId" integer NOT NULL,
    status text NOT NULL,
    "priceChange24H" numeric NOT NULL,
    "volume24H" numeric NOT NULL,
    "trades24H" integer NOT NULL,
    "nextFundingRate" numeric NOT NULL,
    "openInterest" numeric NOT NULL,
    "quantumConversionExponent" integer NOT NULL,
    "atomicResolution" integer NOT NULL,
    "subticksPerTick" integer NOT NULL,
    "stepBaseQuantums" integer NOT NULL,
    "liquidityTierId" integer DEFAULT 0 NOT NULL,
    "marketType" text DEFAULT 'CROSS'::text NOT NULL,
    "baseOpenInterest" numeric DEFAULT '0'::numeric,
    "defaultFundingRate1H" numeric DEFAULT '0'::numeric,
    CONSTRAINT "perpetual_markets_marketType_check" CHECK (("marketType" = ANY (ARRAY['CROSS'::text, 'ISOLATED'::text]))),
    CONSTRAINT perpetual_markets_status_check CHECK ((status = ANY (ARRAY['ACTIVE'::text, 'PAUSED'::text, 'CANCEL_ONLY'::text, 'POST_ONLY'::text, 'INITIALIZING'::text, 'FINAL_SETTLEMENT'::text])))
);
CREATE TABLE public.perpetual_positions (
    id uuid NOT NULL,
    "subaccountId" uuid NOT NULL,
    "perpetualId" bigint NOT NULL,
    side text NOT NULL,
    status text NOT NULL,
    size numeric NOT NULL,
    "maxSize" numeric NOT NULL,
    "entryPrice" numeric NOT NULL,
    "exitPrice" numeric,
    "sumOpen" numeric NOT NULL,
    "sumClose" numeric NOT NULL,
    "createdAt" timestamp with time zone NOT NULL,
    "closedAt" timestamp with time zone,
    "createdAtHeight" bigint NOT NULL,
    "closedAtHeight" bigint,
    "openEventId" bytea NOT NULL,
    "closeEventId" bytea,
    "lastEventId" bytea NOT NULL,
    "settledFunding" numeric NOT NULL,
    "totalRealizedPnl" numeric,
    CONSTRAINT perpetual_positions_side_check CHECK ((side = ANY (ARRAY['LONG'::text, 'SHORT'::text]))),
    CONSTRAINT perpetual_positions_status_check CHECK ((status = ANY (ARRAY['OPEN'::text, 'CLOSED'::text, 'LIQUIDATED'::text])))
);
CREATE TABLE public.persistent_cache (
    key character varying(255) NOT NULL,
    value character varying(255) NOT NULL
);
CREATE TABLE public.pnl (
    "subaccountId" uuid NOT NULL,
    "createdAt" timestamp with time zone NOT NULL,
    "createdAtHeight" bigint NOT NULL,
    equity numeric NOT NULL,
    "netTransfers" numeric NOT NULL,
    "totalPnl" numeric NOT NULL
);
CREATE TABLE public.pnl_ticks (
    id uuid NOT NULL,
    "subaccountId" uuid NOT NULL,
    equity numeric NOT NULL,
    "totalPnl" numeric NOT NULL,
    "netTransfers" numeric NOT NULL,
    "createdAt" timestamp with time zone NOT NULL,
    "blockHeight" bigint NOT NULL,
    "blockTime" timestamp with time zone NOT NULL
);
CREATE TABLE public.subaccount_usernames (
    username character varying(255) NOT NULL,
    "subaccountId" uuid NOT NULL
);
CREATE TABLE public.subaccounts (
    id uuid NOT NULL,
    address character varying(255) NOT NULL,
    "subaccountNumber" integer NOT NULL,
    "updatedAt" timestamp with time zone NOT NULL,
    "updatedAtHeight" bigint NOT NULL
);
CREATE TABLE public.tendermint_events (
    id bytea NOT NULL,
    "blockHeight" bigint NOT NULL,
    "transactionIndex" integer NOT NULL,
    "eventIndex" integer NOT NULL
);
CREATE TABLE public.trading_reward_aggregations (
    id uuid NOT NULL,
    address character varying(255) NOT NULL,
    "startedAt" timestamp with time zone NOT NULL,
    "startedAtHeight" bigint NOT NULL,
    "endedAt" timestamp with time zone,
    "endedAtHeight" bigint,
    period text NOT NULL,
    amount numeric(27,18) NOT NULL,
    CONSTRAINT trading_reward_aggregations_period_check CHECK ((period = ANY (ARRAY['DAILY'::text, 'WEEKLY'::text, 'MONTHLY'::text])))
);
CREATE TABLE public.trading_rewards (
    id uuid NOT NULL,
    address character varying(255) NOT NULL,
    "blockTime" timestamp with time zone NOT NULL,
    "blockHeight" bigint NOT NULL,
    amount numeric(27,18) NOT NULL
);
CREATE TABLE public.transactions (
    id uuid NOT NULL,
    "blockHeight" bigint NOT NULL,
    "transactionIndex" integer NOT NULL,
    "transactionHash" character varying(255) NOT NULL
);
CREATE TABLE public.transfers (
    id uuid NOT NULL,
    "senderSubaccountId" uuid,
    "recipientSubaccountId" uuid,
    "assetId" character varying(255) NOT NULL,
    size numeric NOT NULL,
    "eventId" bytea NOT NULL,
    "transactionHash" character varying(255) NOT NULL,
    "createdAt" timestamp with time zone NOT NULL,
    "createdAtHeight" bigint NOT NULL,
    "recipientWalletAddress" character varying(255),
    "senderWalletAddress" character varying(255),
    CONSTRAINT recipient_non_null CHECK ((num_nonnulls("recipientWalletAddress", "recipientSubaccountId") = 1)),
    CONSTRAINT sender_non_null CHECK ((num_nonnulls("senderWalletAddress", "senderSubaccountId") = 1))
);
CREATE TABLE public.turnkey_users (
    suborg_id text NOT NULL,
    email text,
    svm_address text NOT NULL,
    evm_address text NOT NULL,
    salt text NOT NULL,
    dydx_address text,
    created_at timestamp with time zone NOT NULL,
    smart_account_address text
);
CREATE TABLE public.vaults (
    address character varying(255) NOT NULL,
    "clobPairId" bigint NOT NULL,
    status text NOT NULL,
    "createdAt" timestamp with time zone NOT NULL,
    "updatedAt" timestamp with time zone NOT NULL,
    CONSTRAINT vaults_status_check CHECK ((status = ANY (ARRAY['DEACTIVATED'::text, 'STAND_BY'::text, 'QUOTING'::text, 'CLOSE_ONLY'::text])))
);
CREATE MATERIALIZED VIEW public.vaults_daily_pnl AS
 WITH vault_subaccounts AS (
         SELECT subaccounts.id
           FROM public.vaults,
            public.subaccounts
          WHERE (((vaults.address)::text = (subaccounts.address)::text) AND (subaccounts."subaccountNumber" = 0))
        ), pnl_subaccounts AS (
         SELECT vault_subaccounts.id
           FROM vault_subaccounts
        UNION
         SELECT subaccounts.id
           FROM public.subaccounts
          WHERE (((subaccounts.address)::text = 'dydx18tkxrnrkqc2t0lr3zxr5g6a4hdvqksylxqje4r'::text) AND (subaccounts."subaccountNumber" = 0))
        )
 SELECT pnl_intervals.id,
    pnl_intervals."subaccountId",
    pnl_intervals.equity,
    pnl_intervals."totalPnl",
    pnl_intervals."netTransfers",
    pnl_intervals."createdAt",
    pnl_intervals."blockHeight",
    pnl_intervals."blockTime"
   FROM ( SELECT pnl_ticks.id,
            pnl_ticks."subaccountId",
            pnl_ticks.equity,
            pnl_ticks."totalPnl",
            pnl_ticks."netTransfers",
            pnl_ticks."createdAt",
            pnl_ticks."blockHeight",
            pnl_ticks."blockTime",
            row_number() OVER (PARTITION BY pnl_ticks."subaccountId", (date_trunc('day'::text, pnl_ticks."blockTime")) ORDER BY pnl_ticks."blockTime") AS r
           FROM public.pnl_ticks
          WHERE ((pnl_ticks."subaccountId" IN ( SELECT pnl_subaccounts.id
                   FROM pnl_subaccounts)) AND (pnl_ticks."blockTime" >= (now() - '2160:00:00'::interval)))) pnl_intervals
  WHERE (pnl_intervals.r = 1)
  ORDER BY pnl_intervals."subaccountId"
  WITH NO DATA;
CREATE MATERIALIZED VIEW public.vaults_hourly_pnl AS
 WITH vault_subaccounts AS (
         SELECT subaccounts.id
           FROM public.vaults,
            public.subaccounts
          WHERE (((vaults.address)::text = (subaccounts.address)::text) AND (subaccounts."subaccountNumber" = 0))
        ), pnl_subaccounts AS (
         SELECT vault_subaccounts.id
           FROM vault_subaccounts
        UNION
         SELECT subaccounts.id
           FROM public.subaccounts
          WHERE (((subaccounts.address)::text = 'dydx18tkxrnrkqc2t0lr3zxr5g6a4hdvqksylxqje4r'::text) AND (subaccounts."subaccountNumber" = 0))
        )
 SELECT pnl_intervals.id,
    pnl_intervals."subaccountId",
    pnl_intervals.equity,
    pnl_intervals."totalPnl",
    pnl_intervals."netTransfers",
    pnl_intervals."createdAt",
    pnl_intervals."blockHeight",
    pnl_intervals."blockTime"
   FROM ( SELECT pnl_ticks.id,
            pnl_ticks."subaccountId",
            pnl_ticks.equity,
            pnl_ticks."totalPnl",
            pnl_ticks."netTransfers",
            pnl_ticks."createdAt",
            pnl_ticks."blockHeight",
            pnl_ticks."blockTime",
            row_number() OVER (PARTITION BY pnl_ticks."subaccountId", (date_trunc('hour'::text, pnl_ticks."blockTime")) ORDER BY pnl_ticks."blockTime") AS r
           FROM public.pnl_ticks
          WHERE ((pnl_ticks."subaccountId" IN ( SELECT pnl_subaccounts.id
                   FROM pnl_subaccounts)) AND (pnl_ticks."blockTime" >= (now() - '168:00:00'::interval)))) pnl_intervals
  WHERE (pnl_intervals.r = 1)
  ORDER BY pnl_intervals."subaccountId"
  WITH NO DATA;
CREATE TABLE public.wallets (
    address character varying(255) NOT NULL,
    "totalTradingRewards" numeric(27,18) NOT NULL,
    "totalVolume" numeric DEFAULT '0'::numeric NOT NULL
);
ALTER TABLE ONLY public.firebase_notification_tokens ALTER COLUMN id SET DEFAULT nextval('public.firebase_notification_tokens_id_seq'::regclass);
ALTER TABLE ONLY public.knex_migrations ALTER COLUMN id SET DEFAULT nextval('public.knex_migrations_id_seq'::regclass);
ALTER TABLE ONLY public.knex_migrations_lock ALTER COLUMN index SET DEFAULT nextval('public.knex_migrations_lock_index_seq'::regclass);
ALTER TABLE ONLY public.affiliate_info
    ADD CONSTRAINT affiliate_info_pkey PRIMARY KEY (address);
ALTER TABLE ONLY public.affiliate_referred_users
    ADD CONSTRAINT affiliate_referred_users_pkey PRIMARY KEY ("refereeAddress");
ALTER TABLE ONLY public.asset_positions
    ADD CONSTRAINT asset_positions_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.assets
    ADD CONSTRAINT assets_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.assets
    ADD CONSTRAINT assets_symbol_unique UNIQUE (symbol);
ALTER TABLE ONLY public.blocks
    ADD CONSTRAINT blocks_pkey PRIMARY KEY ("blockHeight");
ALTER TABLE ONLY public.bridge_information
    ADD CONSTRAINT bridge_information_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.bridge_information
    ADD CONSTRAINT bridge_information_transaction_hash_unique UNIQUE (transaction_hash);
ALTER TABLE ONLY public.candles
    ADD CONSTRAINT candles_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.compliance_data
    ADD CONSTRAINT compliance_data_pkey PRIMARY KEY (address, provider);
ALTER TABLE ONLY public.compliance_status
    ADD CONSTRAINT compliance_status_pkey PRIMARY KEY (address);
ALTER TABLE public.compliance_status
    ADD CONSTRAINT compliance_status_reason_check CHECK ((reason = ANY (ARRAY['MANUAL'::text, 'US_GEO'::text, 'CA_GEO'::text, 'GB_GEO'::text, 'SANCTIONED_GEO'::text, 'COMPLIANCE_PROVIDER'::text]))) NOT VALID;
ALTER TABLE public.compliance_status
    ADD CONSTRAINT compliance_status_status_check CHECK ((status = ANY (ARRAY['COMPLIANT'::text, 'FIRST_STRIKE_CLOSE_ONLY'::text, 'FIRST_STRIKE'::text, 'CLOSE_ONLY'::text, 'BLOCKED'::text]))) NOT VALID;
ALTER TABLE ONLY public.fills
    ADD CONSTRAINT fills_pkey PRIMARY KEY (id);
ALTER TABLE public.fills
    ADD CONSTRAINT fills_type_check CHECK ((type = ANY (ARRAY['LIMIT'::text, 'LIQUIDATED'::text, 'LIQUIDATION'::text, 'DELEVERAGED'::text, 'OFFSETTING'::text, 'TWAP_SUBORDER'::text]))) NOT VALID;
ALTER TABLE ONLY public.firebase_notification_tokens
    ADD CONSTRAINT firebase_notification_tokens_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.firebase_notification_tokens
    ADD CONSTRAINT firebase_notification_tokens_token_unique UNIQUE (token);
ALTER TABLE ONLY public.funding_index_updates
    ADD CONSTRAINT funding_index_updates_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.funding_payments
    ADD CONSTRAINT funding_payments_pkey PRIMARY KEY ("subaccountId", "createdAt", ticker);
ALTER TABLE ONLY public.knex_migrations_lock
    ADD CONSTRAINT knex_migrations_lock_pkey PRIMARY KEY (index);
ALTER TABLE ONLY public.knex_migrations
    ADD CONSTRAINT knex_migrations_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.leaderboard_pnl
    ADD CONSTRAINT leaderboard_pnl_pkey PRIMARY KEY (address, "timeSpan");
ALTER TABLE ONLY public.liquidity_tiers
    ADD CONSTRAINT liquidity_tiers_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.markets
    ADD CONSTRAINT markets_pair_unique UNIQUE (pair);
ALTER TABLE ONLY public.markets
    ADD CONSTRAINT markets_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.oracle_prices
    ADD CONSTRAINT oracle_prices_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_pkey PRIMARY KEY (id);
ALTER TABLE public.orders
    ADD CONSTRAINT orders_status_check CHECK ((status = ANY (ARRAY['OPEN'::text, 'FILLED'::text, 'CANCELED'::text, 'BEST_EFFORT_CANCELED'::text, 'UNTRIGGERED'::text]))) NOT VALID;
ALTER TABLE public.orders
    ADD CONSTRAINT orders_type_check CHECK ((type = ANY (ARRAY['LIMIT'::text, 'MARKET'::text, 'STOP_LIMIT'::text, 'STOP_MARKET'::text, 'TRAILING_STOP'::text, 'TAKE_PROFIT'::text, 'TAKE_PROFIT_MARKET'::text, 'LIQUIDATED'::text, 'LIQUIDATION'::text, 'HARD_TRADE'::text, 'FAILED_HARD_TRADE'::text, 'TRANSFER_PLACEHOLDER'::text, 'TWAP'::text, 'TWAP_SUBORDER'::text]))) NOT VALID;
ALTER TABLE ONLY public.permission_approval
    ADD CONSTRAINT permission_approval_pkey PRIMARY KEY (suborg_id, chain_id);
ALTER TABLE ONLY public.perpetual_markets
    ADD CONSTRAINT perpetual_markets_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.perpetual_positions
    ADD CONSTRAINT perpetual_positions_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.persistent_cache
    ADD CONSTRAINT persistent_cache_pkey PRIMARY KEY (key);
ALTER TABLE ONLY public.pnl
    ADD CONSTRAINT pnl_pkey PRIMARY KEY ("subaccountId", "createdAt");
ALTER TABLE ONLY public.pnl_ticks
    ADD CONSTRAINT pnl_ticks_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.subaccount_usernames
    ADD CONSTRAINT subaccount_usernames_pkey PRIMARY KEY (username);
ALTER TABLE ONLY public.subaccounts
    ADD CONSTRAINT subaccounts_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.tendermint_events
    ADD CONSTRAINT tendermint_events_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.trading_reward_aggregations
    ADD CONSTRAINT trading_reward_aggregations_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.trading_rewards
    ADD CONSTRAINT trading_rewards_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.transactions
    ADD CONSTRAINT transactions_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.transfers
    ADD CONSTRAINT transfers_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.turnkey_users
    ADD CONSTRAINT turnkey_users_dydx_address_unique UNIQUE (dydx_address);
ALTER TABLE ONLY public.turnkey_users
    ADD CONSTRAINT turnkey_users_email_unique UNIQUE (email);
ALTER TABLE ONLY public.turnkey_users
    ADD CONSTRAINT turnkey_users_evm_address_unique UNIQUE (evm_address);
ALTER TABLE ONLY public.turnkey_users
    ADD CONSTRAINT turnkey_users_pkey PRIMARY KEY (suborg_id);
ALTER TABLE ONLY public.turnkey_users
    ADD CONSTRAINT turnkey_users_smart_account_address_unique UNIQUE (smart_account_address);
ALTER TABLE ONLY public.turnkey_users
    ADD CONSTRAINT turnkey_users_svm_address_unique UNIQUE (svm_address);
ALTER TABLE ONLY public.vaults
    ADD CONSTRAINT vaults_pkey PRIMARY KEY (address);
ALTER TABLE ONLY public.wallets
    ADD CONSTRAINT wallets_pkey PRIMARY KEY (address);
CREATE INDEX add_candles_sparklines_feb2025_idx ON public.candles USING btree (resolution, "startedAt") WHERE ((resolution = ANY (ARRAY['1HOUR'::text, '4HOURS'::text])) AND ("startedAt" > '2025-02-01 00:00:00+00'::timestamp with time zone));
CREATE INDEX affiliate_referred_users_affiliateaddress_index ON public.affiliate_referred_users USING btree ("affiliateAddress");
CREATE INDEX asset_positions_subaccountid_assetid_index ON public.asset_positions USING btree ("subaccountId", "assetId");
CREATE INDEX asset_positions_subaccountid_index ON public.asset_positions USING btree ("subaccountId");
CREATE INDEX assets_marketid_index ON public.assets USING btree ("marketId");
CREATE INDEX assets_symbol_index ON public.assets USING btree (symbol);
CREATE INDEX blocks_time_since_march2025_idx ON public.blocks USING btree ("time") WHERE ("time" >= '2025-03-01 00:00:00+00'::timestamp with time zone);
CREATE INDEX candles_started_at_index ON public.candles USING btree ("startedAt");
CREATE INDEX candles_ticker_resolution_startedat_index ON public.candles USING btree (ticker, resolution, "startedAt" DESC);
CREATE INDEX compliance_data_address_index ON public.compliance_data USING btree (address);
CREATE INDEX compliance_data_blocked_index ON public.compliance_data USING btree (blocked);
CREATE INDEX compliance_data_updatedat_index ON public.compliance_data USING btree ("updatedAt");
CREATE INDEX compliance_status_status_index ON public.compliance_status USING btree (status);
CREATE INDEX compliance_status_updatedat_index ON public.compliance_status USING btree ("updatedAt");
CREATE INDEX "fills_clobPairId_createdAtHeight_createdAt_partial" ON public.fills USING btree ("clobPairId", "createdAtHeight", "createdAt") WHERE (liquidity = 'TAKER'::text);
CREATE INDEX "fills_clobPairId_createdAtHeight_partial" ON public.fills USING btree ("clobPairId", "createdAtHeight") WHERE (liquidity = 'TAKER'::text);
CREATE INDEX fills_createdat_index ON public.fills USING btree ("createdAt");
CREATE INDEX fills_createdatheight_index ON public.fills USING btree ("createdAtHeight");
CREATE INDEX fills_subaccountid_clobpairid_index ON public.fills USING btree ("subaccountId", "clobPairId");
CREATE INDEX fills_subaccountid_createdatheight_index ON public.fills USING btree ("subaccountId", "createdAtHeight");
CREATE INDEX funding_index_updates_effectiveatheight_index ON public.funding_index_updates USING btree ("effectiveAtHeight");
CREATE INDEX funding_index_updates_perpetualid_index ON public.funding_index_updates USING btree ("perpetualId");
CREATE INDEX funding_payments_createdatheight_index ON public.funding_payments USING btree ("createdAtHeight");
CREATE INDEX idx_bridge_information_from_address ON public.bridge_information USING btree (from_address);
CREATE INDEX idx_turnkey_users_email ON public.turnkey_users USING btree (email);
CREATE INDEX idx_turnkey_users_evm_address ON public.turnkey_users USING btree (evm_address);
CREATE INDEX idx_turnkey_users_svm_address ON public.turnkey_users USING btree (svm_address);
CREATE INDEX leaderboard_pnl_rank_timespan_index ON public.leaderboard_pnl USING btree (rank, "timeSpan");
CREATE INDEX markets_pair_index ON public.markets USING btree (pair);
CREATE INDEX oracle_prices_market_height_desc_inc_price ON public.oracle_prices USING btree ("marketId", "effectiveAtHeight" DESC) INCLUDE (price);
CREATE INDEX oracle_prices_marketid_effectiveat_index ON public.oracle_prices USING btree ("marketId", "effectiveAt");
CREATE INDEX oracle_prices_marketid_effectiveatheight_index ON public.oracle_prices USING btree ("marketId", "effectiveAtHeight");
CREATE INDEX orders_clobpairid_subaccountid_index ON public.orders USING btree ("clobPairId", "subaccountId");
CREATE INDEX orders_open_shortterm_idx ON public.orders USING btree ("goodTilBlock") WHERE ((status = 'OPEN'::text) AND ("orderFlags" = 0) AND ("goodTilBlock" IS NOT NULL));
CREATE INDEX orders_subaccountid_index ON public.orders USING btree ("subaccountId");
CREATE INDEX orders_subaccountid_status_goodtilblock_goodtilblocktime_index ON public.orders USING btree ("subaccountId", status, "goodTilBlock" DESC, "goodTilBlockTime" DESC);
CREATE INDEX perpetual_positions_oi_open_idx ON public.perpetual_positions USING btree ("perpetualId", side) INCLUDE (size) WHERE (status = 'OPEN'::text);
CREATE INDEX perpetual_positions_perpetualid_status_index ON public.perpetual_positions USING btree ("perpetualId", status);
CREATE INDEX "perpetual_positions_subaccountId_perpetualId_openEventId_index" ON public.perpetual_positions USING btree ("subaccountId", "perpetualId", "openEventId" DESC);
CREATE INDEX perpetual_positions_subaccount_perpetual_created_at_index ON public.perpetual_positions USING btree ("subaccountId", "createdAtHeight", "perpetualId");
CREATE INDEX perpetual_positions_subaccountid_createdat_index ON public.perpetual_positions USING btree ("subaccountId", "createdAt");
CREATE INDEX perpetual_positions_subaccountid_status_index ON public.perpetual_positions USING btree ("subaccountId", status);
CREATE INDEX pnl_createdatheight_index ON public.pnl USING btree ("createdAtHeight");
CREATE INDEX pnl_ticks_blocktime_index ON public.pnl_ticks USING btree ("blockTime");
CREATE INDEX pnl_ticks_createdat_index ON public.pnl_ticks USING btree ("createdAt");
CREATE INDEX pnl_ticks_subaccountid_createdat_index ON public.pnl_ticks USING btree ("subaccountId", "createdAt");
CREATE INDEX pnl_ticks_subaccountid_index ON public.pnl_ticks USING btree ("subaccountId");
CREATE INDEX subaccounts_address_subaccountnumber_index ON public.subaccounts USING btree (address, "subaccountNumber") INCLUDE (id);
CREATE INDEX subaccounts_updatedat_index ON public.subaccounts USING btree ("updatedAt");
CREATE INDEX tendermint_events_blockheight_transactionindex_index ON public.tendermint_events USING btree ("blockHeight", "transactionIndex");
CREATE INDEX trading_reward_aggregations_address_startedatheight_index ON public.trading_reward_aggregations USING btree (address, "startedAtHeight");
CREATE INDEX trading_reward_aggregations_period_startedatheight_index ON public.trading_reward_aggregations USING btree (period, "startedAtHeight");
CREATE INDEX trading_rewards_address_index ON public.trading_rewards USING btree (address);
CREATE INDEX trading_rewards_blockheight_index ON public.trading_rewards USING btree ("blockHeight");
CREATE INDEX trading_rewards_blocktime_index ON public.trading_rewards USING btree ("blockTime");
CREATE INDEX transactions_blockheight_transactionindex_index ON public.transactions USING btree ("blockHeight", "transactionIndex");
CREATE INDEX transfers_assetid_createdat_index ON public.transfers USING btree ("assetId", "createdAt");
CREATE INDEX transfers_recipientsubaccountid_createdat_index ON public.transfers USING btree ("recipientSubaccountId", "createdAt");
CREATE INDEX transfers_recipientsubaccountid_createdatheight_index ON public.transfers USING btree ("recipientSubaccountId", "createdAtHeight");
CREATE INDEX transfers_sendersubaccountid_createdat_index ON public.transfers USING btree ("senderSubaccountId", "createdAt");
CREATE INDEX transfers_sendersubaccountid_createdatheight_index ON public.transfers USING btree ("senderSubaccountId", "createdAtHeight");
CREATE UNIQUE INDEX vaults_daily_pnl_id_idx ON public.vaults_daily_pnl USING btree (id);
CREATE UNIQUE INDEX vaults_hourly_pnl_id_idx ON public.vaults_hourly_pnl USING btree (id);
ALTER TABLE ONLY public.asset_positions
    ADD CONSTRAINT asset_positions_assetid_foreign FOREIGN KEY ("assetId") REFERENCES public.assets(id);
ALTER TABLE ONLY public.asset_positions
    ADD CONSTRAINT asset_positions_subaccountid_foreign FOREIGN KEY ("subaccountId") REFERENCES public.subaccounts(id);
ALTER TABLE ONLY public.assets
    ADD CONSTRAINT assets_marketid_foreign FOREIGN KEY ("marketId") REFERENCES public.markets(id);
ALTER TABLE ONLY public.fills
    ADD CONSTRAINT fills_createdatheight_foreign FOREIGN KEY ("createdAtHeight") REFERENCES public.blocks("blockHeight");
ALTER TABLE ONLY public.fills
    ADD CONSTRAINT fills_eventid_foreign FOREIGN KEY ("eventId") REFERENCES public.tendermint_events(id);
ALTER TABLE ONLY public.fills
    ADD CONSTRAINT fills_orderid_foreign FOREIGN KEY ("orderId") REFERENCES public.orders(id);
ALTER TABLE ONLY public.fills
    ADD CONSTRAINT fills_subaccountid_foreign FOREIGN KEY ("subaccountId") REFERENCES public.subaccounts(id);
ALTER TABLE ONLY public.firebase_notification_tokens
    ADD CONSTRAINT firebase_notification_tokens_address_foreign FOREIGN KEY (address) REFERENCES public.wallets(address) ON DELETE CASCADE;
ALTER TABLE ONLY public.funding_index_updates
    ADD CONSTRAINT funding_index_updates_effectiveatheight_foreign FOREIGN KEY ("effectiveAtHeight") REFERENCES public.blocks("blockHeight");
ALTER TABLE ONLY public.funding_index_updates
    ADD CONSTRAINT funding_index_updates_eventid_foreign FOREIGN KEY ("eventId") REFERENCES public.tendermint_events(id);
ALTER TABLE ONLY public.funding_index_updates
    ADD CONSTRAINT funding_index_updates_perpetualid_foreign FOREIGN KEY ("perpetualId") REFERENCES public.perpetual_markets(id);
ALTER TABLE ONLY public.funding_payments
    ADD CONSTRAINT funding_payments_perpetualid_foreign FOREIGN KEY ("perpetualId") REFERENCES public.perpetual_markets(id);
ALTER TABLE ONLY public.funding_payments
    ADD CONSTRAINT funding_payments_subaccountid_foreign FOREIGN KEY ("subaccountId") REFERENCES public.subaccounts(id);
ALTER TABLE ONLY public.leaderboard_pnl
    ADD CONSTRAINT leaderboard_pnl_address_foreign FOREIGN KEY (address) REFERENCES public.wallets(address);
ALTER TABLE ONLY public.oracle_prices
    ADD CONSTRAINT oracle_prices_effectiveatheight_foreign FOREIGN KEY ("effectiveAtHeight") REFERENCES public.blocks("blockHeight");
ALTER TABLE ONLY public.oracle_prices
    ADD CONSTRAINT oracle_prices_marketid_foreign FOREIGN KEY ("marketId") REFERENCES public.markets(id);
ALTER TABLE ONLY public.orders
    ADD CONSTRAINT orders_subaccountid_foreign FOREIGN KEY ("subaccountId") REFERENCES public.subaccounts(id);
ALTER TABLE ONLY public.perpetual_markets
    ADD CONSTRAINT perpetual_markets_liquiditytierid_foreign FOREIGN KEY ("liquidityTierId") REFERENCES public.liquidity_tiers(id);
ALTER TABLE ONLY public.perpetual_markets
    ADD CONSTRAINT perpetual_markets_marketid_foreign FOREIGN KEY ("marketId") REFERENCES public.markets(id);
ALTER TABLE ONLY public.perpetual_positions
    ADD CONSTRAINT perpetual_positions_closeeventid_foreign FOREIGN KEY ("closeEventId") REFERENCES public.tendermint_events(id);
ALTER TABLE ONLY public.perpetual_positions
    ADD CONSTRAINT perpetual_positions_lasteventid_foreign FOREIGN KEY ("lastEventId") REFERENCES public.tendermint_events(id);
ALTER TABLE ONLY public.perpetual_positions
    ADD CONSTRAINT perpetual_positions_openeventid_foreign FOREIGN KEY ("openEventId") REFERENCES public.tendermint_events(id);
ALTER TABLE ONLY public.perpetual_positions
    ADD CONSTRAINT perpetual_positions_perpetualid_foreign FOREIGN KEY ("perpetualId") REFERENCES public.perpetual_markets(id);
ALTER TABLE ONLY public.perpetual_positions
    ADD CONSTRAINT perpetual_positions_subaccountid_foreign FOREIGN KEY ("subaccountId") REFERENCES public.subaccounts(id);
ALTER TABLE ONLY public.pnl
    ADD CONSTRAINT pnl_subaccountid_foreign FOREIGN KEY ("subaccountId") REFERENCES public.subaccounts(id);
ALTER TABLE ONLY public.pnl_ticks
    ADD CONSTRAINT pnl_ticks_subaccountid_foreign FOREIGN KEY ("subaccountId") REFERENCES public.subaccounts(id);
ALTER TABLE ONLY public.subaccount_usernames
    ADD CONSTRAINT subaccount_usernames_subaccountid_foreign FOREIGN KEY ("subaccountId") REFERENCES public.subaccounts(id);
ALTER TABLE ONLY public.tendermint_events
    ADD CONSTRAINT tendermint_events_blockheight_foreign FOREIGN KEY ("blockHeight") REFERENCES public.blocks("blockHeight");
ALTER TABLE ONLY public.trading_reward_aggregations
    ADD CONSTRAINT trading_reward_aggregations_address_foreign FOREIGN KEY (address) REFERENCES public.wallets(address);
ALTER TABLE ONLY public.trading_reward_aggregations
    ADD CONSTRAINT trading_reward_aggregations_startedatheight_foreign FOREIGN KEY ("startedAtHeight") REFERENCES public.blocks("blockHeight");
ALTER TABLE ONLY public.trading_rewards
    ADD CONSTRAINT trading_rewards_address_foreign FOREIGN KEY (address) REFERENCES public.wallets(address);
ALTER TABLE ONLY public.transfers
    ADD CONSTRAINT transfers_assetid_foreign FOREIGN KEY ("assetId") REFERENCES public.assets(id);
ALTER TABLE ONLY public.transfers
    ADD CONSTRAINT transfers_eventid_foreign FOREIGN KEY ("eventId") REFERENCES public.tendermint_events(id);
ALTER TABLE ONLY public.transfers
    ADD CONSTRAINT transfers_recipientsubaccountid_foreign FOREIGN KEY ("recipientSubaccountId") REFERENCES public.subaccounts(id);
ALTER TABLE ONLY public.transfers
    ADD CONSTRAINT transfers_recipientwalletaddress_foreign FOREIGN KEY ("recipientWalletAddress") REFERENCES public.wallets(address);
ALTER TABLE ONLY public.transfers
    ADD CONSTRAINT transfers_sendersubaccountid_foreign FOREIGN KEY ("senderSubaccountId") REFERENCES public.subaccounts(id);
ALTER TABLE ONLY public.transfers
    ADD CONSTRAINT transfers_senderwalletaddress_foreign FOREIGN KEY ("senderWalletAddress") REFERENCES public.wallets(address);
