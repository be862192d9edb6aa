/*
 * Test vectors more than one unit suite checks against, kept once so that the suites cannot
 * drift apart.
 */
#ifndef IDD_TESTS_UNIT_VECTORS_H
#define IDD_TESTS_UNIT_VECTORS_H

/* DocSpace's HS256 key for machine key "111" (docspace-behavior.md §2): the 256 bytes
 * idd_machinekey_derive must make from it, as lowercase hex. */
#define VECTOR_MACHINE_KEY_111_HEX                                                                 \
    "9cb6a0ebd3059d9ea1334390dcb00ed8aba8425cd5668222546ba47586baf2fa74cd021d3248e565f00e53cd38"   \
    "f1069478ebb3df84b535347d9768602717e641491b0eaef1a562c3dc6cc613b4ea626410fd9b061376be98cda0"   \
    "9be0843ed82711841ce358a3d288f00217ef217f9334034f297cdf2ed35d75e05009823e9e949e0230cd7e0c6d"   \
    "2a1216105ecf764d0c66dd35145c48e3b1bf6e7752c906b16383501f4fc5b5f6e2ff69c91d748dfe9343a3a509"   \
    "8a38561f7e0e10951b610c65adda7e57fe47b0e65215f27ec53c316fe30e2561a7d94bfa00d1b7a461c69d5d63"   \
    "709a0fa795fcf2beb67445d75942dda1b10c3caabed48f84562c900b858c77"

#endif
