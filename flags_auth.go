package main

import (
	"flag"
	"fmt"
)

// defaultBcryptCost is etcd 3.4's (and bcrypt's) default cost.
const defaultBcryptCost = 10

// authSpecs are the flags of v2 authentication, spelled as etcd 3.4.23
// spells them (its --help) and read from ETCD_* like every flag.
func authSpecs() []flagSpec {
	return []flagSpec{
		{names: []string{"bcrypt-cost"}, usage: "cost of the bcrypt hashes of v2 auth passwords (4 to 31; other values fall back to 10)", value: func(c *config) flag.Value { return (*intValue)(&c.bcryptCost) }},
	}
}

// effectiveBcryptCost is --bcrypt-cost as etcd 3.4 applies it: a value
// outside bcrypt's 4..31 gives a warning and the default.
func (c *config) effectiveBcryptCost() (cost int, warning string) {
	if c.bcryptCost < 4 || c.bcryptCost > 31 {
		return defaultBcryptCost, fmt.Sprintf("use default bcrypt-cost %d instead of the invalid value %d", defaultBcryptCost, c.bcryptCost)
	}
	return c.bcryptCost, ""
}
