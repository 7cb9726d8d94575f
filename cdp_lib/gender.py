"""Predicted gender from first names: likely_male, likely_female or uncertain.

Source: U.S. Social Security Administration, "Beyond the Top 1000 Names" national data
(https://www.ssa.gov/oact/babynames/limits.html, `names.zip`: births by first name and sex,
1880 onwards). `MALE_SHARE` holds, for about 400 common U.S. first names, the share of births
recorded as male, rounded to two decimals. The shares were compiled from that data set's
totals from memory and are approximate (good to a few points, which is all a 0.9 threshold
needs); replace the table with shares computed from `names.zip` for finer work.

Rule: a name whose male share is at least 0.9 is `likely_male`, at most 0.1 `likely_female`;
anything in between, an unknown name or a missing name is `uncertain`. The 90 % threshold is
the one commonly used with SSA data (e.g. Blevins & Mullen 2015, "Jane, John ... Leslie?").
Matching ignores case and surrounding spaces.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

THRESHOLD = 0.9
LIKELY_MALE, LIKELY_FEMALE, UNCERTAIN = "likely_male", "likely_female", "uncertain"

_MALE = (
    "aaron adam adrian alan albert alexander alfred andrew anthony antonio arthur austin benjamin "
    "bernard billy bobby bradley brandon brian bruce bryan carl carlos charles christian "
    "christopher clarence clifford craig curtis daniel darrell david dennis derek donald douglas "
    "duane dustin earl edward edwin elijah eric ernest ethan eugene evan francis frank fred "
    "frederick gabriel gary gene george gerald glenn gordon gregory harold harry henry herbert "
    "howard isaac jack jacob james jason jeffrey jeremy jerome jerry jesus joe joel john jonathan "
    "jose joseph joshua juan justin keith kenneth kevin kyle larry lawrence leonard leroy lewis "
    "logan louis lucas luis luke marcus mario mark martin mason matthew melvin michael miguel "
    "nathan nathaniel nicholas noah norman oliver oscar patrick paul peter philip phillip ralph "
    "randall randy raymond ricardo richard rick ricky robert roger ronald roy russell ryan samuel "
    "scott sean shane shawn stanley stephen steve steven thomas timothy todd tony travis troy "
    "tyler vernon victor vincent walter warren wayne william willie zachary liam owen wyatt "
    "caleb hunter connor landon dylan gavin chase blake ian jared jesse leo levi jayden aiden "
    "sebastian julian hudson lincoln grayson carter jaxon theodore ezra colton dominic tristan "
    "cody brett garrett cole spencer wesley marvin alvin calvin lloyd floyd leon herman"
)
_FEMALE = (
    "abigail alice alicia allison amanda amber amy andrea angela ann anna anne annie april ashley "
    "audrey barbara betty beverly bonnie brenda brittany carol carolyn catherine cheryl christina "
    "christine cindy claire crystal cynthia deborah debra denise diana diane donna doris dorothy "
    "edith eleanor elizabeth ella emily emma erica erin esther ethel evelyn florence frances "
    "gladys gloria grace hannah heather helen irene isabella jacqueline janet janice jennifer "
    "jessica joan joanne josephine joyce judith judy julia julie karen katherine kathleen kathryn "
    "kathy katie kimberly laura lauren linda lisa lois lori louise lucy lydia madison margaret "
    "maria marie marilyn martha mary megan melissa michelle mildred monica nancy natalie nicole "
    "norma olivia pamela patricia paula peggy phyllis rachel rebecca rita rose ruby ruth sally "
    "samantha sandra sara sarah sharon sheila shirley sophia stephanie susan sylvia tammy tara "
    "teresa theresa tiffany tina valerie vanessa victoria virginia wanda wendy ava mia charlotte "
    "amelia harper ella chloe zoe lily layla aria scarlett penelope nora hazel aurora savannah "
    "brooklyn leah stella violet natalia naomi alexis kayla jasmine destiny gabriella sofia "
    "vivian kelsey brianna courtney lindsey chelsea molly holly melanie veronica yvonne"
)
# Names given to both sexes in the SSA data: approximate male share of all births.
_MIXED = {
    "alex": 0.93, "angel": 0.78, "avery": 0.30, "cameron": 0.88, "casey": 0.62, "charlie": 0.80,
    "dana": 0.32, "drew": 0.87, "frankie": 0.60, "jackie": 0.25, "jamie": 0.32, "jean": 0.12,
    "jesse": 0.93, "jessie": 0.45, "jody": 0.30, "jordan": 0.76, "kelly": 0.15, "kendall": 0.35,
    "kerry": 0.50, "lee": 0.86, "leslie": 0.20, "marion": 0.30, "morgan": 0.15, "peyton": 0.40,
    "quinn": 0.50, "reese": 0.40, "riley": 0.45, "robin": 0.15, "rowan": 0.65, "sam": 0.85,
    "shannon": 0.14, "skyler": 0.50, "taylor": 0.25, "terry": 0.74, "tracy": 0.20, "chris": 0.88,
    "kim": 0.08, "pat": 0.45, "sidney": 0.60, "emerson": 0.45, "finley": 0.45, "parker": 0.80,
    "hayden": 0.70, "dakota": 0.55, "payton": 0.25, "blair": 0.35, "devon": 0.85, "ashton": 0.85,
    "jaime": 0.55, "shawn": 0.93,
}

MALE_SHARE: dict[str, float] = {
    **{name: 0.99 for name in _MALE.split()},
    **{name: 0.01 for name in _FEMALE.split()},
    **_MIXED,
}


def classify(first_name: str | None) -> str:
    """`likely_male`, `likely_female` or `uncertain` for one first name.

    >>> classify(" Mary "), classify("JOHN"), classify("Jordan"), classify("Zorblax")
    ('likely_female', 'likely_male', 'uncertain', 'uncertain')
    """
    if first_name is None:
        return UNCERTAIN
    share = MALE_SHARE.get(str(first_name).strip().lower())
    if share is None:
        return UNCERTAIN
    if share >= THRESHOLD:
        return LIKELY_MALE
    if 1 - share >= THRESHOLD:
        return LIKELY_FEMALE
    return UNCERTAIN


def names_table() -> ir.Table:
    """The name table as an Ibis memtable: `name` (lower case), `male_share`, `predicted_gender`."""
    names = sorted(MALE_SHARE)
    return ibis.memtable({
        "name": names,
        "male_share": [MALE_SHARE[n] for n in names],
        "predicted_gender": [classify(n) for n in names],
    })


def with_predicted_gender(table: ir.Table, column: str = "first_name") -> ir.Table:
    """`table` plus a `predicted_gender` column from its first-name `column` (a join in the engine)."""
    names = names_table()
    key = table[column].strip().lower()
    keyed = table.mutate(_name_key=key)
    joined = keyed.left_join(names, keyed._name_key == names.name)
    return joined.select(
        *[keyed[c] for c in table.columns],
        predicted_gender=names.predicted_gender.fill_null(UNCERTAIN),
    )
