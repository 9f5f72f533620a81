-- An order row belongs to one creator: the key includes the creator, so two
-- creators can never share (or overwrite) a row, whatever order ids a
-- channel or a forger sends.
ALTER TABLE orders DROP CONSTRAINT orders_pkey;
ALTER TABLE orders ADD PRIMARY KEY (creator_id, aggregate_id);
