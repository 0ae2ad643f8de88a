"""A generated customer world with ground truth, to measure the intent catalogue.

`generate_world(accounts, seed, as_of)` builds a fictional market around one vendor
("MediSupply": ultrasound and CT scanners, excavators, online courses): hospitals, construction
firms, schools and cross-border traders in China, the Gulf and Europe, with contacts (EN and ZH
names and job titles), devices with install dates and telemetry features, regions and their
policies (subsidies, tariffs, regulations), documents in EN and ZH from templates, and background
activity for every account (web views, downloads, mails, calls, tickets, app use, surveys,
telemetry summaries, opportunities, contracts, hires).

Into that background it plants the seed stories (`/work/shared/seeds/README.md`), one set of
subjects per catalogue intent, which must fire, and look-alikes which must not:

- decoys, the confusions the seed article names: test orders that look like activity (QA traffic
  on the web shop of a real customer: product views, downloads, orders, all flagged
  `channel: test`); "more complaints" that are not "wants premium service" (an ageing device with
  a stream of complaint tickets about a regulatory inspection, which an extended-warranty offer
  does not answer); views by a competitor's staff (a competitor's people reading a customer
  device's warranty terms, or browsing our product pages and downloading brochures, which makes
  the competitor itself look like an expanding account);
- near misses: the same story with one ingredient short or out of date (two warranty views of a
  young device, a low survey score from a student who still uses the app, clearance trouble
  three months ago, a clause conflict settled by an amendment, a new hire who is a nurse, a
  high-load excavator serviced on time, a stale opportunity in a subsidised region).

Planted cases vary in strength (how many views, how recent, which optional evidence), so some
are weak on purpose; a few stories only show in text (a budget approval in meeting minutes, a
call about another vendor) and need the embedder's semantic signals.

Everything is deterministic for a seed. Records use the default ontology's types and properties.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from graph.store import EdgeRecord, NodeRecord, NodeRef

#: (intent type, subject label, subject id)
Subject = tuple[str, str, str]

#: How often each story is planted, per account (at least one of each in any world).
PLANT_RATE = 0.02
#: How often each decoy and near miss is planted, per account (at least one of each).
DECOY_RATE = 0.01

INTENT_TYPES = (
    "budget_loosening",
    "cash_flow_stress",
    "competitor_penetration_risk",
    "contract_clause_conflict",
    "customs_policy_anxiety",
    "decision_chain_change",
    "expansion_readiness",
    "refund_risk",
    "replacement_anxiety",
)


@dataclass(frozen=True)
class Decoy:
    """A subject built to look like `imitates` that must not fire it."""

    kind: str  # test_orders | more_complaints | competitor_staff | near_miss:<what>
    intent_type: str
    label: str
    id: str
    note: str = ""

    @property
    def subject(self) -> Subject:
        """(intent type, label, id) as in the ground truth."""
        return (self.intent_type, self.label, self.id)


@dataclass(frozen=True)
class Planted:
    """A subject that must fire `intent_type`, and which variant of the story it got."""

    intent_type: str
    label: str
    id: str
    variant: str
    needs_embedder: bool = False

    @property
    def subject(self) -> Subject:
        """(intent type, label, id) as in the ground truth."""
        return (self.intent_type, self.label, self.id)


@dataclass
class GeneratedWorld:
    """Nodes and edges of a generated world, its "now", and the ground truth."""

    accounts: int
    seed: int
    as_of: datetime
    nodes: list[NodeRecord] = field(default_factory=list)
    edges: list[EdgeRecord] = field(default_factory=list)
    planted: list[Planted] = field(default_factory=list)
    decoys: list[Decoy] = field(default_factory=list)

    @property
    def positives(self) -> set[Subject]:
        """Every (intent type, label, id) that must fire."""
        return {p.subject for p in self.planted}

    @property
    def negatives(self) -> set[Subject]:
        """Every decoy and near miss (intent type, label, id) that must not fire."""
        return {d.subject for d in self.decoys}

    def counts(self) -> dict[str, int]:
        """Records per node label and edge type."""
        out: dict[str, int] = {}
        for n in self.nodes:
            out[n.label] = out.get(n.label, 0) + 1
        for e in self.edges:
            out[e.type] = out.get(e.type, 0) + 1
        return dict(sorted(out.items()))


# ---------------------------------------------------------------------------- vocabulary
ZH_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
ZH_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉玲红建文斌宇浩凯健俊帆帅旭宁鑫瑞婷雪琳晨欣佳怡子涵梓轩思远嘉"
EN_FIRST = (
    "James Mary Robert Linda Michael Sarah David Laura Daniel Emma Thomas Anna Mark Julia Paul Sophie Peter Hannah Omar Fatima Ahmed Layla "
    "Yusuf Noor Khalid Aisha Hassan Mariam Lukas Lena Jonas Mia Felix Clara"
).split()
EN_LAST = (
    "Smith Johnson Brown Taylor Wilson Davies Evans Thomas Roberts Walker Wright Green Hall Wood Clarke Al-Mansouri Al-Farsi Haddad Nasser "
    "Khalil Rahman Saleh Müller Schmidt Schneider Fischer Weber Becker Wagner Hoffmann"
).split()

# Cities per region code: (region code, country, language, region name, ZH name)
REGIONS = (
    ("CN-SH", "CN", "zh", "Shanghai", "上海"),
    ("CN-JS", "CN", "zh", "Jiangsu", "江苏"),
    ("CN-GD", "CN", "zh", "Guangdong", "广东"),
    ("CN-BJ", "CN", "zh", "Beijing", "北京"),
    ("CN-ZJ", "CN", "zh", "Zhejiang", "浙江"),
    ("AE", "AE", "en", "United Arab Emirates", "阿联酋"),
    ("SA", "SA", "en", "Saudi Arabia", "沙特阿拉伯"),
    ("EG", "EG", "en", "Egypt", "埃及"),
    ("DE", "DE", "en", "Germany", "德国"),
    ("US", "US", "en", "United States", "美国"),
)
COUNTRY_NAMES = {"CN": ("China", "中国")}

# Job titles per industry: (title, decision role or None); ZH for CN accounts, EN elsewhere.
TITLES = {
    "healthcare": {
        "zh": [
            ("院长", "decision_maker"),
            ("财务处处长", "budget_holder"),
            ("设备科科长", "technical_evaluator"),
            ("采购办主任", "procurement"),
            ("超声科医生", None),
            ("护士长", None),
            ("医学工程师", None),
            ("信息科工程师", None),
        ],
        "en": [
            ("Hospital Director", "decision_maker"),
            ("CFO", "budget_holder"),
            ("Biomedical Engineer", "technical_evaluator"),
            ("Procurement Manager", "procurement"),
            ("Radiologist", None),
            ("Nurse", None),
            ("Sonographer", None),
        ],
    },
    "construction": {
        "zh": [
            ("总经理", "decision_maker"),
            ("财务总监", "budget_holder"),
            ("设备部经理", "technical_evaluator"),
            ("采购经理", "procurement"),
            ("挖掘机操作员", None),
            ("项目经理", None),
            ("维修技师", None),
        ],
        "en": [
            ("Managing Director", "decision_maker"),
            ("Finance Director", "budget_holder"),
            ("Fleet Manager", "technical_evaluator"),
            ("Purchasing Manager", "procurement"),
            ("Operator", None),
            ("Site Manager", None),
        ],
    },
    "education": {
        "zh": [("校长", "decision_maker"), ("财务经理", "budget_holder"), ("教务主任", None), ("班主任", None)],
        "en": [("Principal", "decision_maker"), ("Finance Manager", "budget_holder"), ("Academic Coordinator", None), ("Class Teacher", None)],
    },
    "wholesale": {
        "zh": [("总经理", "decision_maker"), ("财务经理", "budget_holder"), ("物流经理", None), ("采购专员", "procurement"), ("报关员", None)],
        "en": [
            ("General Manager", "decision_maker"),
            ("Finance Manager", "budget_holder"),
            ("Logistics Manager", None),
            ("Buyer", "procurement"),
            ("Customs Coordinator", None),
        ],
    },
    "manufacturing": {
        "zh": [
            ("总经理", "decision_maker"),
            ("财务总监", "budget_holder"),
            ("技术总监", "technical_evaluator"),
            ("采购经理", "procurement"),
            ("质量工程师", None),
        ],
        "en": [
            ("CEO", "decision_maker"),
            ("CFO", "budget_holder"),
            ("CTO", "technical_evaluator"),
            ("Sourcing Manager", "procurement"),
            ("Quality Engineer", None),
        ],
    },
}
NON_DECISION_HIRES = {
    "zh": ["护士", "实习生", "行政助理", "技师", "客服专员"],
    "en": ["Nurse", "Intern", "Office Assistant", "Technician", "Customer Service Agent"],
}
DECISION_HIRES = {
    "zh": [
        ("财务总监", "budget_holder"),
        ("分管副院长", "decision_maker"),
        ("总经理", "decision_maker"),
        ("采购部经理", "procurement"),
        ("技术总监", "technical_evaluator"),
    ],
    "en": [
        ("Chief Financial Officer", "budget_holder"),
        ("General Manager", "decision_maker"),
        ("Head of Procurement", "procurement"),
        ("Technical Director", "technical_evaluator"),
    ],
}

ACCOUNT_NAMES = {
    "healthcare": {
        "zh": ["{city}第{n}人民医院", "{city}{name}医院", "{city}{name}妇幼保健院", "{city}{name}中医院"],
        "en": ["{name} General Hospital", "{name} Medical Center", "{name} Clinic"],
    },
    "construction": {
        "zh": ["{city}{name}土方工程有限公司", "{city}{name}建设集团"],
        "en": ["{name} Earthworks LLC", "{name} Contracting Co.", "{name} Construction GmbH"],
    },
    "education": {"zh": ["{city}{name}教育培训学校", "{city}{name}外语学校"], "en": ["{name} Academy", "{name} Learning Centre"]},
    "wholesale": {"zh": ["{city}{name}进出口贸易公司"], "en": ["{name} Trading LLC", "{name} General Trading FZE", "{name} Import & Export"]},
    "manufacturing": {"zh": ["{city}{name}精密制造有限公司"], "en": ["{name} Manufacturing AG", "{name} Industries Inc."]},
}
ZH_BRAND = "华康瑞安恒达金鼎新城博远启明宏图天成东方海川长青中和正德嘉禾鸿运"
EN_BRAND = "Al Noor|Gulf Star|Desert Rose|Falcon|Oasis|Crescent|Nile|Pyramid|Alpine|Rhine|Lakeside|Summit|Harbor|Evergreen|Northgate|Redwood".split("|")

# Products: (id, name, sku, model, category, vendor, is_competitor)
PRODUCTS = (
    ("us-900", "UltraScan 900", "US-900", "US900", "ultrasound", "MediSupply", False),
    ("ct-500", "ClearCT 500", "CT-500", "CT500", "ct", "MediSupply", False),
    ("ex-200", "EX200 excavator", "EX-200", "EX200", "excavator", "MediSupply Machinery", False),
    ("ex-350", "EX350 excavator", "EX-350", "EX350", "excavator", "MediSupply Machinery", False),
    ("course-ielts", "IELTS online course", "EDU-IELTS", "IELTS", "course", "MediSupply Learning", False),
    ("ext-warranty", "Extended warranty (3 years)", "EW-3Y", None, "service", "MediSupply", False),
    ("rival-r5", "Rival R5", "RV-R5", "R5", "ultrasound", "Rival Imaging", True),
    ("rival-ctx", "Rival CT-X", "RV-CTX", "CTX", "ct", "Rival Imaging", True),
    ("kato-kx220", "Kato KX220", "KT-KX220", "KX220", "excavator", "Kato Heavy Industries", True),
)
DEVICE_MODELS = {"healthcare": ["us-900", "us-900", "ct-500"], "construction": ["ex-200", "ex-200", "ex-350"]}
MODEL_OF = {p[0]: p[3] for p in PRODUCTS}
COMPETITOR_FOR = {"healthcare": ["rival-r5", "rival-ctx"], "construction": ["kato-kx220"]}
# Competitor organisations: (name, products they compete with)
COMPETITORS = (("Rival Imaging Ltd.", ["us-900", "ct-500"]), ("Kato Heavy Industries", ["ex-200", "ex-350"]), ("瑞影医疗科技有限公司", ["us-900"]))

PAGES = ["products/us900", "products/ct500", "products/ex200", "products/ex350", "pricing", "case-studies", "products/compare", "solutions/hospitals"]
SUPPORT_PAGES = ["support/faq", "support/manuals", "support/login", "news/2026", "careers", "contact"]
DOWNLOADS = ["whitepaper-ultrasound-ai.pdf", "brochure-ex350.pdf", "ct500-datasheet.pdf", "tco-calculator.xlsx", "案例集-超声.pdf"]

BACKGROUND_TICKETS = {
    "zh": ["发票抬头修改", "账号密码重置", "申请操作培训", "请提供上季度对账单", "送货地址变更", "系统登录报错"],
    "en": [
        "Invoice copy requested",
        "Password reset",
        "Request for operator training",
        "Statement of account Q3",
        "Change of delivery address",
        "Portal login error",
    ],
}
FAULT_TICKETS = {
    "zh": ["探头图像噪点增多", "设备开机自检报错", "液压系统压力不稳", "显示屏间歇黑屏", "冷却风扇异响"],
    "en": ["Probe image noise increasing", "Self-test error at start-up", "Intermittent screen blackout", "Cooling fan noise", "Hydraulic pressure unstable"],
}
REGULATORY_TICKETS = {
    "zh": ["药监局飞检：计量证书过期，要求说明", "监管处罚通知：设备质控记录缺失", "投诉：检查组要求补交校准记录", "再次投诉：处罚决定书需要厂家盖章材料"],
    "en": [
        "Regulator inspection: calibration certificate expired",
        "Penalty notice: missing QC records for the scanner",
        "Complaint: inspectors demand calibration logs",
        "Escalation: penalty decision needs vendor documents",
    ],
}
CLEARANCE_TICKETS = {
    "zh": ["货物在杰贝阿里港清关受阻", "海关要求补充原产地证", "清关失败：HS编码不符", "关税计算有误，货物滞留"],
    "en": [
        "Shipment held at Jebel Ali customs clearance",
        "Customs requests certificate of origin",
        "Customs clearance failed (HS code mismatch)",
        "Tariff miscalculated, goods held at port",
    ],
}
CUSTOMS_QUESTIONS = {
    "zh": ["我们的货物清关被卡住了，请尽快协助", "新的关税会不会上调？我们需要提前准备哪些单证"],
    "en": ["Our shipment is stuck in customs, can you help urgently?", "What documents do we need for clearance under the new tariff?"],
}
NEUTRAL_MAILS = {
    "zh": ["请发送最新的报价单", "下周三的培训时间确认一下", "感谢贵司的支持，期待继续合作", "请提供设备操作手册电子版"],
    "en": [
        "Please send the latest price list",
        "Confirming the training next Wednesday",
        "Thanks for your support, looking forward to working together",
        "Could you share the operator manual?",
    ],
}
VENDOR_CALLS = {
    "zh": ["我们在考虑其他厂家的方案，对方报价更低", "竞争对手给出了更低的报价，我们正在评估"],
    "en": ["We are evaluating another vendor for the next phase", "The competitor offered a lower price, we are comparing options"],
}
APPROVAL_TEXTS = {
    "zh": ["会议纪要：院务会讨论通过，设备更新预算已批准，资金已到位。", "经研究，本年度设备采购预算已批准，预算金额人民币{amount}万元。"],
    "en": [
        "Board minutes: the budget has been approved for the new equipment; funding is now available.",
        "The capital budget for replacement equipment was approved at the board meeting.",
    ],
}
NEUTRAL_CHUNKS = {
    "zh": ["会议纪要：双方回顾了上季度的服务情况，客户对响应速度表示满意。", "下一步：安排操作培训，整理常见问题清单。", "本合同自双方签字之日起生效。"],
    "en": [
        "Meeting notes: we reviewed last quarter's service; the customer is satisfied with response times.",
        "Next steps: schedule operator training and compile an FAQ.",
        "This agreement takes effect on signature by both parties.",
    ],
}


class _Builder:
    """Accumulates records with unique ids; helpers for the common shapes."""

    def __init__(self, world: GeneratedWorld, rng: random.Random):
        self.world = world
        self.rng = rng
        self.as_of = world.as_of
        self.counter = 0

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter:07d}"

    def node(self, label: str, id_: str, props: dict) -> NodeRef:
        self.world.nodes.append(NodeRecord(label, id_, {k: v for k, v in props.items() if v is not None}))
        return NodeRef(label, id_)

    def edge(
        self, type_: str, src: NodeRef, dst: NodeRef, props: dict | None = None, valid_from: str | None = None, valid_to: str | None = None, source: str = "crm"
    ) -> None:
        self.world.edges.append(
            EdgeRecord(type_, src, dst, props or {}, source_id=source, extractor="world-generator", valid_from=valid_from, valid_to=valid_to)
        )

    def ago(self, days: float, hours: float | None = None) -> str:
        """An ISO time `days` before now, at a working hour."""
        hour = hours if hours is not None else self.rng.randint(8, 19)
        moment = self.as_of - timedelta(days=days)
        return moment.replace(hour=int(hour), minute=self.rng.randint(0, 59), second=0, microsecond=0).isoformat()

    def date_ago(self, days: float) -> str:
        return (self.as_of - timedelta(days=days)).date().isoformat()

    def event(self, performers: list[NodeRef], event_type: str, days: float, concerns: list[NodeRef] = (), **props) -> NodeRef:  # type: ignore[assignment]
        ref = self.node("Event", self.next_id("ev"), {"event_type": event_type, "occurred_at": self.ago(days), **props})
        for who in performers:
            self.edge("PERFORMED_BY", ref, who, source=props.get("source_system") or "events")
        for what in concerns:
            self.edge("CONCERNS", ref, what, source=props.get("source_system") or "events")
        return ref

    def document(self, about: NodeRef, title: str, doc_type: str, language: str, days: float, texts: list[str]) -> tuple[NodeRef, list[NodeRef]]:
        doc_id = self.next_id("doc")
        doc = self.node(
            "Document",
            doc_id,
            {"title": title, "doc_type": doc_type, "language": language, "document_date": self.date_ago(days), "source_uri": f"world://{doc_type}/{doc_id}"},
        )
        self.edge("ABOUT", doc, about, source=doc_id)
        chunks = []
        for i, text in enumerate(texts):
            chunk = self.node("Chunk", f"{doc_id}#{i}", {"text": text, "position": i, "language": language})
            self.edge("HAS_CHUNK", doc, chunk, source=doc_id)
            chunks.append(chunk)
        return doc, chunks


@dataclass
class _Account:
    ref: NodeRef
    index: int
    industry: str
    region: str
    country: str
    lang: str
    name: str
    domain: str
    contacts: list[tuple[NodeRef, str, str | None]] = field(default_factory=list)  # (ref, title, role)
    students: list[NodeRef] = field(default_factory=list)
    devices: list[tuple[NodeRef, str]] = field(default_factory=list)  # (ref, product id)
    record: NodeRecord | None = None
    located: EdgeRecord | None = None


def _person(rng: random.Random, lang: str) -> tuple[str, str, str]:
    """(full name, alias, email local part)."""
    if lang == "zh":
        surname, given = rng.choice(ZH_SURNAMES), "".join(rng.choice(ZH_GIVEN) for _ in range(rng.choice((1, 2))))
        return surname + given, f"{surname}{given}", f"u{rng.randint(1000, 99999)}"
    first, last = rng.choice(EN_FIRST), rng.choice(EN_LAST)
    return f"{first} {last}", f"{first[0]}. {last}", f"{first}.{last}".lower().replace(" ", "").replace("ü", "u")


def generate_world(accounts: int, seed: int, as_of: datetime) -> GeneratedWorld:
    """A world of `accounts` customer accounts (plus competitors) with planted intents, decoys
    and near misses; deterministic for `seed`. See the module docstring."""
    if accounts < 1:
        raise ValueError("a world needs at least one account")
    rng = random.Random(seed)
    world = GeneratedWorld(accounts=accounts, seed=seed, as_of=as_of)
    b = _Builder(world, rng)

    # ---------------------------------------------------------------- regions, products, policies
    regions: dict[str, NodeRef] = {}
    for code, country, _lang, name, zh in REGIONS:
        if "-" in code and country not in regions:
            en, zh_country = COUNTRY_NAMES[country]
            regions[country] = b.node("Region", country.lower(), {"name": en, "code": country, "level": "country", "alias_names": [zh_country]})
        regions[code] = b.node("Region", code.lower(), {"name": name, "code": code, "level": "province" if "-" in code else "country", "alias_names": [zh]})
        if "-" in code:
            b.edge("PART_OF", regions[code], regions[country], source="geo")
    products: dict[str, NodeRef] = {}
    for pid, name, sku, model, category, vendor, competitor in PRODUCTS:
        products[pid] = b.node(
            "Product", pid, {"name": name, "sku": sku, "model_number": model, "category": category, "vendor": vendor, "is_competitor": competitor}
        )
    b.edge("COMPETES_WITH", products["rival-r5"], products["us-900"], source="market-intel")
    b.edge("COMPETES_WITH", products["rival-ctx"], products["ct-500"], source="market-intel")
    b.edge("COMPETES_WITH", products["kato-kx220"], products["ex-200"], source="market-intel")
    year = as_of.year
    policy = {}
    policy["sh-subsidy"] = b.node(
        "Policy",
        f"cn-sh-equipment-subsidy-{year}",
        {
            "name": f"上海市医疗设备更新补贴 {year}",
            "policy_kind": "subsidy",
            "region_code": "CN-SH",
            "effective_from": f"{year}-01-01",
            "effective_until": f"{year}-12-31",
            "issuer": "Shanghai Health Commission",
            "summary": "对更新使用超过8年的医疗设备给予最高30%的补贴。",
            "language": "zh",
        },
    )
    b.edge("APPLIES_TO", policy["sh-subsidy"], regions["CN-SH"], valid_from=f"{year}-01-01T00:00:00+00:00", source="gov")
    b.edge("APPLIES_TO", policy["sh-subsidy"], products["us-900"], source="gov")
    policy["js-subsidy"] = b.node(
        "Policy",
        f"cn-js-machinery-renewal-{year}",
        {
            "name": f"江苏省工程机械以旧换新补贴 {year}",
            "policy_kind": "subsidy",
            "region_code": "CN-JS",
            "effective_from": f"{year}-03-01",
            "summary": "老旧工程机械置换新机补贴10%。",
            "language": "zh",
        },
    )
    b.edge("APPLIES_TO", policy["js-subsidy"], regions["CN-JS"], valid_from=f"{year}-03-01T00:00:00+00:00", source="gov")
    # an expired subsidy: Guangdong's programme ended last year (must not count)
    policy["gd-subsidy"] = b.node(
        "Policy",
        f"cn-gd-equipment-subsidy-{year - 1}",
        {
            "name": f"广东省设备更新补贴 {year - 1}",
            "policy_kind": "subsidy",
            "region_code": "CN-GD",
            "effective_from": f"{year - 1}-01-01",
            "effective_until": f"{year - 1}-12-31",
            "language": "zh",
        },
    )
    b.edge(
        "APPLIES_TO",
        policy["gd-subsidy"],
        regions["CN-GD"],
        valid_from=f"{year - 1}-01-01T00:00:00+00:00",
        valid_to=f"{year - 1}-12-31T23:59:59+00:00",
        source="gov",
    )
    for code, name in (("AE", "UAE customs tariff update"), ("SA", "Saudi customs duty revision")):
        policy[f"{code}-tariff"] = b.node(
            "Policy",
            f"{code.lower()}-tariff-{year}",
            {
                "name": f"{name} {year}",
                "policy_kind": "tariff",
                "region_code": code,
                "effective_from": b.date_ago(20),
                "summary": "Duty on imported appliances rises from 5% to 8%.",
                "language": "en",
            },
        )
        b.edge("APPLIES_TO", policy[f"{code}-tariff"], regions[code], valid_from=b.ago(20, 0), source="gov")
    policy["nmpa-regulation"] = b.node(
        "Policy",
        "cn-nmpa-calibration-rule",
        {
            "name": "医疗器械计量校准管理规定",
            "policy_kind": "regulation",
            "region_code": "CN",
            "effective_from": f"{year - 2}-07-01",
            "summary": "医疗设备须按期校准并保存质控记录，违者处罚。",
            "language": "zh",
        },
    )
    b.edge("APPLIES_TO", policy["nmpa-regulation"], regions["CN"], source="gov")
    policy["instalments"] = b.node(
        "Policy",
        "instalment-policy",
        {
            "name": "MediSupply instalment plan",
            "policy_kind": "internal_policy",
            "summary": "Customers may pay in 12 or 24 monthly instalments.",
            "language": "en",
        },
    )
    policy["data-sharing"] = b.node(
        "Policy",
        "data-sharing-policy",
        {
            "name": "Customer data sharing policy",
            "policy_kind": "internal_policy",
            "summary": "Customer data is shared only with consented processors (GDPR, PIPL).",
            "language": "en",
        },
    )

    # ---------------------------------------------------------------- competitors (organisations)
    competitor_accounts: list[_Account] = []
    n_competitors = max(len(COMPETITORS), accounts // 400)
    for i in range(n_competitors):
        name, competes = COMPETITORS[i % len(COMPETITORS)]
        label = name if i < len(COMPETITORS) else f"{name} (branch {i})"
        lang = "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in name) else "en"
        ref = b.node(
            "Account",
            f"comp-{i:04d}",
            {
                "name": label,
                "industry": "medical devices" if "us-900" in competes else "machinery",
                "country": "CN" if lang == "zh" else "DE",
                "domain": f"competitor{i}.example",
            },
        )
        for pid in competes:
            b.edge("COMPETES_WITH", ref, products[pid], source="market-intel")
        acc = _Account(ref, -1 - i, "manufacturing", "CN" if lang == "zh" else "DE", "CN" if lang == "zh" else "DE", lang, label, f"competitor{i}.example")
        for k in range(3):
            full, alias, local = _person(rng, lang)
            c = b.node(
                "Contact",
                f"comp-{i:04d}-c{k}",
                {
                    "full_name": full,
                    "alias_names": [alias],
                    "email": f"{local}.{i}{k}@{acc.domain}",
                    "job_title": "销售经理" if lang == "zh" else "Sales Manager",
                    "language": lang,
                },
            )
            b.edge("WORKS_AT", c, ref, {"job_title": "Sales Manager"}, valid_from=b.ago(rng.randint(400, 2000), 9))
            acc.contacts.append((c, "Sales Manager", None))
        competitor_accounts.append(acc)

    # ---------------------------------------------------------------- the customer accounts
    all_accounts = [_account(b, i) for i in range(accounts)]
    for acc in all_accounts:
        _background(b, acc, policy, products)

    # ---------------------------------------------------------------- planting
    by_industry: dict[str, list[_Account]] = {}
    order = list(all_accounts)
    rng.shuffle(order)
    for acc in order:
        by_industry.setdefault(acc.industry, []).append(acc)
    used: set[str] = set()

    def take(industries: tuple[str, ...], where=lambda a: True) -> _Account:
        for industry in industries:
            for acc in by_industry.get(industry, []):
                if acc.ref.id not in used and where(acc):
                    used.add(acc.ref.id)
                    return acc
        for acc in order:  # fall back to any free account, re-dressed for the story
            if acc.ref.id not in used:
                used.add(acc.ref.id)
                return _redress(b, acc, industries[0], policy, products)
        raise ValueError("the world is too small for its stories: use more accounts")

    plants = max(1, round(accounts * PLANT_RATE))
    decoys = max(1, round(accounts * DECOY_RATE))
    stories = [
        ("replacement_anxiety", ("healthcare", "construction"), _plant_replacement),
        ("cash_flow_stress", ("construction",), _plant_cash_flow),
        ("refund_risk", ("education",), _plant_refund),
        ("customs_policy_anxiety", ("wholesale",), _plant_customs),
        ("budget_loosening", ("healthcare", "construction", "manufacturing"), _plant_budget),
        ("competitor_penetration_risk", ("healthcare", "construction"), _plant_competitor),
        ("contract_clause_conflict", ("healthcare", "wholesale", "manufacturing", "construction"), _plant_clause),
        ("expansion_readiness", ("healthcare", "manufacturing", "construction", "wholesale"), _plant_expansion),
        ("decision_chain_change", ("healthcare", "construction", "manufacturing", "wholesale"), _plant_decision_chain),
    ]
    for _ in range(plants):
        for intent_type, industries, plant in stories:
            needs = (lambda a: a.region in ("AE", "SA")) if intent_type == "customs_policy_anxiety" else (lambda a: True)
            acc = take(industries, needs)
            world.planted.append(plant(b, acc, policy, products))
    decoy_kinds = [
        (("healthcare",), _decoy_complaints),
        (("healthcare", "manufacturing", "wholesale"), _decoy_test_orders),
        (("healthcare",), _decoy_competitor_views),
        (("healthcare", "construction"), _near_few_views),
        (("construction",), _near_serviced_on_time),
        (("education",), _near_student_still_active),
        (("education",), _near_old_survey),
        (("wholesale",), _near_old_clearance),
        (("healthcare", "manufacturing"), _near_settled_clause),
        (("healthcare", "construction"), _near_new_nurse),
        (("healthcare", "construction", "manufacturing"), _near_stale_opportunity),
    ]
    for i in range(decoys):
        for industries, plant in decoy_kinds:
            needs = (lambda a: a.region in ("AE", "SA")) if plant is _near_old_clearance else (lambda a: True)
            if plant is _near_stale_opportunity:
                needs = lambda a: a.region in ("CN-SH", "CN-JS")  # noqa: E731
            world.decoys.extend(plant(b, take(industries, needs), policy, products))
        comp = competitor_accounts[i % len(competitor_accounts)]
        if i < len(competitor_accounts):  # a competitor's staff browsing our site like a buyer
            world.decoys.append(_decoy_competitor_browsing(b, comp))
    return world


# ---------------------------------------------------------------------------- background
def _account(b: _Builder, i: int) -> _Account:
    rng = b.rng
    industry = rng.choices(["healthcare", "construction", "education", "wholesale", "manufacturing"], [30, 25, 15, 20, 10])[0]
    if industry == "wholesale":
        code = rng.choices(["AE", "SA", "EG", "DE", "CN-GD", "CN-ZJ"], [30, 20, 15, 10, 15, 10])[0]
    elif industry == "manufacturing":
        code = rng.choice(["DE", "US", "CN-JS", "CN-ZJ", "CN-GD"])
    elif industry == "education":
        code = rng.choice(["CN-SH", "CN-BJ", "CN-GD", "CN-ZJ", "CN-JS"])
    else:
        code = rng.choices(["CN-SH", "CN-JS", "CN-GD", "CN-BJ", "CN-ZJ", "AE", "SA"], [20, 20, 15, 15, 15, 10, 5])[0]
    region = next(r for r in REGIONS if r[0] == code)
    lang = region[2]
    if lang == "zh":
        name = rng.choice(ACCOUNT_NAMES[industry]["zh"]).format(city=region[4], name="".join(rng.sample(ZH_BRAND, 2)), n=rng.randint(1, 12))
    else:
        name = rng.choice(ACCOUNT_NAMES[industry]["en"]).format(name=rng.choice(EN_BRAND))
    domain = f"acct{i:06d}.example"
    ref = b.node(
        "Account",
        f"acc-{i:06d}",
        {"name": name, "domain": domain, "industry": industry, "country": region[1], "region_code": code, "size_band": rng.choice(["S", "M", "L"])},
    )
    acc = _Account(ref, i, industry, code, region[1], lang, name, domain, record=b.world.nodes[-1])
    b.edge("LOCATED_IN", ref, NodeRef("Region", code.lower()), source="crm")
    acc.located = b.world.edges[-1]
    return acc


def _add_contact(
    b: _Builder, acc: _Account, title: str, role: str | None, joined_days: float, role_days: float | None = None, student: bool = False
) -> NodeRef:
    full, alias, local = _person(b.rng, acc.lang)
    cid = f"{acc.ref.id}-c{len(acc.contacts) + len(acc.students)}"
    c = b.node("Contact", cid, {"full_name": full, "alias_names": [alias], "email": f"{local}.{cid}@{acc.domain}", "job_title": title, "language": acc.lang})
    b.edge("WORKS_AT", c, acc.ref, {"job_title": title}, valid_from=b.ago(joined_days, 9))
    if role is not None:
        b.edge("HAS_ROLE", c, acc.ref, {"role": role}, valid_from=b.ago(role_days if role_days is not None else joined_days, 9))
    (acc.students if student else acc.contacts).append((c, title, role) if not student else c)
    return c


def _add_device(b: _Builder, acc: _Account, product: str, age_days: float, load: float | None = None, overdue: int = 0, hours: float | None = None) -> NodeRef:
    rng = b.rng
    did = f"{acc.ref.id}-d{len(acc.devices)}"
    model = MODEL_OF[product]
    if hours is None:
        hours = round(age_days * rng.uniform(3.0, 9.0), 1)
    if load is None and product.startswith("ex-"):
        load = round(min(0.95, max(0.2, rng.gauss(0.55, 0.12))), 2)
    d = b.node(
        "Device",
        did,
        {
            "serial": f"{model}-{acc.index:06d}{len(acc.devices)}",
            "model": model,
            "install_date": b.date_ago(age_days),
            "device_status": "active",
            "operating_hours": float(hours),
            "load_intensity": load,
            "maintenance_overdue_days": int(overdue),
            "last_service_date": b.date_ago(rng.randint(20, 200)),
        },
    )
    b.edge("OWNS", acc.ref, d, valid_from=b.ago(age_days, 9), source="erp")
    b.edge("INSTANCE_OF", d, NodeRef("Product", product), source="erp")
    if load is not None:  # the telemetry pipeline's monthly summary
        b.event([d], "telemetry", rng.uniform(1, 28), metric="load_intensity_30d", value=float(load), source_system="telemetry")
    acc.devices.append((d, product))
    return d


def _background(b: _Builder, acc: _Account, policy: dict[str, NodeRef], products: dict[str, NodeRef]) -> None:
    """Ordinary life: staff, devices, a little web traffic, mails, tickets, the odd opportunity."""
    rng = b.rng
    titles = TITLES[acc.industry][acc.lang]
    for title, role in rng.sample(titles, k=min(len(titles), rng.randint(2, 4))):
        joined = rng.randint(200, 4000)
        _add_contact(b, acc, title, role if rng.random() < 0.6 else None, joined)
    if acc.industry == "education":
        for _ in range(rng.randint(3, 6)):
            s = _add_contact(b, acc, "学员" if acc.lang == "zh" else "student", None, rng.randint(30, 300), student=True)
            for _ in range(rng.randint(2, 5)):
                b.event([s], "app_usage", rng.uniform(0.5, 12), metric="lesson_video", duration_seconds=float(rng.randint(300, 3600)), channel="app")
            if rng.random() < 0.6:
                score = float(rng.choice([3, 3.5, 4, 4.5, 5]))
                b.event(
                    [s], "survey", rng.uniform(1, 25), score_value=score, subject_line="课后满意度" if acc.lang == "zh" else "Post-class survey", channel="app"
                )
    if acc.industry in DEVICE_MODELS:
        for _ in range(rng.randint(1, 3)):
            age = rng.randint(200, 3000) if rng.random() < 0.8 else rng.randint(2200, 4000)
            overdue = 0 if rng.random() < 0.85 else rng.randint(1, 25)
            _add_device(b, acc, rng.choice(DEVICE_MODELS[acc.industry]), age, overdue=overdue)
    staff = [c for c, _, _ in acc.contacts]
    for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
        page = rng.choice(PAGES + SUPPORT_PAGES + SUPPORT_PAGES)
        b.event([rng.choice(staff)], "web_view", rng.uniform(0.5, 60), url=f"https://medisupply.example/{page}", channel="web")
    if rng.random() < 0.08:
        b.event([rng.choice(staff)], "download", rng.uniform(0.5, 60), url=f"https://medisupply.example/files/{rng.choice(DOWNLOADS)}", channel="web")
    for _ in range(rng.randint(0, 3)):
        text = rng.choice(NEUTRAL_MAILS[acc.lang])
        kind = rng.choice(["email", "email", "call", "meeting"])
        performers = [rng.choice(staff)] + ([acc.ref] if rng.random() < 0.3 else [])
        b.event(performers, kind, rng.uniform(0.5, 80), subject_line=text[:40], content=text, channel=kind)
    for _ in range(rng.choice([0, 0, 1, 2])):
        b.event([acc.ref], "ticket", rng.uniform(0.5, 120), subject_line=rng.choice(BACKGROUND_TICKETS[acc.lang]), channel="service")
    if rng.random() < 0.25:  # an opportunity: most are closed or stale, a few live
        opp = b.node(
            "Opportunity",
            b.next_id("opp"),
            {"name": f"{acc.name} {rng.choice(['renewal', 'upgrade', 'service'])}", "currency": "CNY" if acc.lang == "zh" else "USD"},
        )
        b.edge("HAS_OPPORTUNITY", acc.ref, opp, valid_from=b.ago(rng.randint(60, 500), 9))
        roll = rng.random()
        props: dict = {}
        if roll < 0.5:
            props = {"stage": rng.choice(["won", "lost"]), "amount": float(rng.randint(5, 200) * 10000), "close_date": b.date_ago(rng.randint(30, 400))}
        elif roll < 0.85:
            props = {
                "stage": rng.choice(["prospecting", "qualification", "proposal"]),
                "amount": float(rng.randint(5, 200) * 10000),
                "close_date": b.date_ago(rng.randint(10, 300)),
            }
        else:  # live: a close date ahead; rarely at proposal stage
            props = {"stage": rng.choices(["prospecting", "qualification", "proposal"], [50, 40, 10])[0], "close_date": b.date_ago(-rng.randint(20, 200))}
            props["amount"] = float(rng.randint(5, 200) * 10000) if props["stage"] != "prospecting" and rng.random() < 0.3 else None
        b.world.nodes[-1].props.update({k: v for k, v in props.items() if v is not None})
    if rng.random() < 0.3:  # a contract with ordinary clauses
        doc, _chunks = b.document(acc.ref, f"{acc.name} service contract", "contract", acc.lang, rng.randint(100, 900), [rng.choice(NEUTRAL_CHUNKS[acc.lang])])
        clause = b.node(
            "Clause",
            f"{doc.id}-cl0",
            {
                "title": "Warranty",
                "clause_type": "warranty",
                "text": "质保期为交付后12个月。" if acc.lang == "zh" else "Warranty: 12 months from delivery.",
                "language": acc.lang,
            },
        )
        b.edge("HAS_CLAUSE", doc, clause, source=doc.id)
    if rng.random() < 0.2:
        b.document(
            acc.ref, "会议纪要" if acc.lang == "zh" else "Meeting notes", "minutes", acc.lang, rng.uniform(1, 80), rng.sample(NEUTRAL_CHUNKS[acc.lang], 2)
        )
    if rng.random() < 0.05:  # a hire months ago
        _add_contact(b, acc, rng.choice(NON_DECISION_HIRES[acc.lang]), None, rng.randint(130, 365))


def _redress(b: _Builder, acc: _Account, industry: str, policy: dict, products: dict) -> _Account:
    """A free account of another industry, given what a story needs (tiny worlds only)."""
    acc.industry = industry
    if industry == "education" and not acc.students:
        for _ in range(2):
            s = _add_contact(b, acc, "student", None, 90, student=True)
            b.event([s], "app_usage", 3, metric="lesson_video", duration_seconds=1200.0, channel="app")
    return acc


def _staff(acc: _Account, role: str | None = None) -> NodeRef:
    for c, _title, r in acc.contacts:
        if role is None or r == role:
            return c
    return acc.contacts[0][0]


def _device_for(b: _Builder, acc: _Account, old: bool, product: str | None = None) -> NodeRef:
    product = product or b.rng.choice(DEVICE_MODELS.get(acc.industry, ["us-900"]))
    age = b.rng.randint(2300, 4200) if old else b.rng.randint(200, 1500)
    return _add_device(b, acc, product, age, overdue=b.rng.choice([0, 0, 10, 35, 60]))


# ---------------------------------------------------------------------------- planted stories
def _warranty_url(b: _Builder, acc: _Account, device: NodeRef) -> str:
    serial = next(n.props["serial"] for n in reversed(b.world.nodes) if n.label == "Device" and n.id == device.id)
    page = "维保条款" if acc.lang == "zh" and b.rng.random() < 0.5 else b.rng.choice(["maintenance-terms", "warranty"])
    return f"https://portal.medisupply.example/devices/{serial}/{page}"


def _plant_replacement(b: _Builder, acc: _Account, policy: dict, products: dict) -> Planted:
    """Story 2: an ageing device whose owner keeps reading its maintenance terms, with faults."""
    rng = b.rng
    device = _device_for(b, acc, old=True, product="us-900" if acc.industry == "healthcare" else "ex-200")
    viewer = _staff(acc, "technical_evaluator")
    views = rng.choices([2, 3, 4, 5], [15, 35, 35, 15])[0]
    for _ in range(views):
        b.event([viewer], "web_view", rng.uniform(0.5, 16), [device], url=_warranty_url(b, acc, device), channel="web")
    with_ticket = rng.random() < 0.7
    if with_ticket:
        b.event([acc.ref], "ticket", rng.uniform(2, 45), [device], subject_line=rng.choice(FAULT_TICKETS[acc.lang]), channel="service")
    return Planted("replacement_anxiety", "Device", device.id, f"{views} views" + (" + fault ticket" if with_ticket else ""))


def _plant_cash_flow(b: _Builder, acc: _Account, policy: dict, products: dict) -> Planted:
    """Story 6: months of high-intensity work and a late filter change."""
    rng = b.rng
    load, overdue = round(rng.uniform(0.81, 0.96), 2), rng.randint(15, 70)
    device = _add_device(b, acc, rng.choice(["ex-200", "ex-350"]), rng.randint(400, 1500), load=load, overdue=overdue, hours=float(rng.randint(1500, 5000)))
    for m in range(1, 3):  # earlier monthly summaries: high load for months
        b.event(
            [device],
            "telemetry",
            30 * m + rng.uniform(0, 5),
            metric="load_intensity_30d",
            value=round(load - rng.uniform(0, 0.05), 2),
            source_system="telemetry",
        )
    b.event(
        [acc.ref],
        "erp_signal",
        rng.uniform(5, 40),
        [device],
        metric="filter_change_overdue",
        value=float(overdue),
        subject_line="滤芯更换逾期" if acc.lang == "zh" else "Filter change overdue",
        source_system="erp",
    )
    return Planted("cash_flow_stress", "Device", device.id, f"load {load}, {overdue} days overdue")


def _plant_refund(b: _Builder, acc: _Account, policy: dict, products: dict) -> Planted:
    """Story 4: no course-app use for two weeks and a post-class survey under 3."""
    rng = b.rng
    student = _add_contact(b, acc, "学员" if acc.lang == "zh" else "student", None, rng.randint(40, 200), student=True)
    for _ in range(rng.randint(2, 6)):
        b.event([student], "app_usage", rng.uniform(15.5, 45), metric="lesson_video", duration_seconds=float(rng.randint(300, 3000)), channel="app")
    score = float(rng.choice([1, 1.5, 2, 2.5]))
    comment = rng.choice(["听不懂，进度太快", "老师讲得太快了", "作业太多"]) if acc.lang == "zh" else rng.choice(["Too fast, I am lost", "Not what I expected"])
    b.event(
        [student],
        "survey",
        rng.uniform(1, 20),
        score_value=score,
        subject_line="课后满意度" if acc.lang == "zh" else "Post-class survey",
        content=comment,
        channel="app",
    )
    return Planted("refund_risk", "Contact", student.id, f"survey {score}")


def _plant_customs(b: _Builder, acc: _Account, policy: dict, products: dict) -> Planted:
    """Story 5: a tariff change in the customer's country and clearance trouble."""
    rng = b.rng
    lang = "zh" if rng.random() < 0.3 else "en"
    troubles = rng.randint(1, 3)
    for _ in range(troubles):
        kind = rng.choice(["ticket", "erp_signal", "email"])
        extra = (
            {"metric": "clearance_failure", "value": 1.0, "source_system": "erp"}
            if kind == "erp_signal"
            else {"channel": "service" if kind == "ticket" else "email"}
        )
        b.event([acc.ref], kind, rng.uniform(1, 45), subject_line=rng.choice(CLEARANCE_TICKETS[lang]), **extra)
    asked = rng.random() < 0.5
    if asked:
        text = rng.choice(CUSTOMS_QUESTIONS[lang])
        b.event([acc.ref, _staff(acc)], "email", rng.uniform(1, 20), subject_line=text[:40], content=text, channel="email")
    return Planted("customs_policy_anxiety", "Account", acc.ref.id, f"{troubles} clearance problem(s)" + (" + question" if asked else ""))


def _plant_budget(b: _Builder, acc: _Account, policy: dict, products: dict) -> Planted:
    """Story 1: money becomes available (a funded tender, approval minutes, a regional subsidy)."""
    rng = b.rng
    variant = rng.choices(["tender", "minutes+opportunity", "minutes+subsidy"], [60, 25, 15])[0]
    if variant in ("tender", "minutes+subsidy") and acc.region not in ("CN-SH", "CN-JS"):  # the subsidy region is part of the story
        region = "CN-SH" if acc.industry == "healthcare" else "CN-JS"
        acc.located.dst = NodeRef("Region", region.lower())  # type: ignore[union-attr]
        acc.record.props.update({"region_code": region, "country": "CN"})  # type: ignore[union-attr]
        acc.region, acc.country = region, "CN"
    amount = rng.randint(50, 500)
    if variant != "minutes+subsidy":
        opp = b.node(
            "Opportunity",
            b.next_id("opp"),
            {
                "name": f"{acc.name} equipment tender {b.as_of.year}",
                "stage": rng.choice(["qualification", "proposal"]),
                "amount": float(amount * 10000),
                "currency": "CNY",
                "close_date": b.date_ago(-rng.randint(15, 90)),
                "submission_deadline": b.ago(-rng.randint(5, 30), 17),
            },
        )
        b.edge("HAS_OPPORTUNITY", acc.ref, opp, valid_from=b.ago(rng.randint(3, 40), 9))
    if variant == "tender":
        b.document(
            acc.ref,
            f"{acc.name}设备采购招标公告",
            "tender_notice",
            "zh",
            rng.uniform(2, 30),
            [f"采购人：{acc.name}。项目名称：设备更新采购。", f"预算金额：人民币{amount}万元。", "评分权重：价格40%，技术45%，服务15%。"],
        )
    else:
        lang = acc.lang
        b.document(
            acc.ref,
            "会议纪要" if lang == "zh" else "Board minutes",
            "minutes",
            lang,
            rng.uniform(2, 30),
            [rng.choice(APPROVAL_TEXTS[lang]).format(amount=amount), rng.choice(NEUTRAL_CHUNKS[lang])],
        )
    return Planted("budget_loosening", "Account", acc.ref.id, variant, needs_embedder=variant != "tender")


def _plant_competitor(b: _Builder, acc: _Account, policy: dict, products: dict) -> Planted:
    """Story 1: a competitor's product in the account's tender, installed base or conversations."""
    rng = b.rng
    rival = rng.choice(COMPETITOR_FOR.get(acc.industry, ["rival-r5"]))
    rival_name = next(p[1] for p in PRODUCTS if p[0] == rival)
    variant = rng.choices(["tender mentions rival", "uses rival", "call about another vendor"], [50, 35, 15])[0]
    if variant == "tender mentions rival":
        text = (
            f"可接受同档次进口品牌，如 {rival_name} 或同等性能产品。" if acc.lang == "zh" else f"Equivalent products such as the {rival_name} are acceptable."
        )
        _doc, chunks = b.document(
            acc.ref, "招标文件技术要求" if acc.lang == "zh" else "Tender technical requirements", "tender_notice", acc.lang, rng.uniform(2, 60), [text]
        )
        start = text.index(rival_name)
        b.edge(
            "MENTIONS",
            chunks[0],
            NodeRef("Product", rival),
            {"char_start": start, "char_end": start + len(rival_name), "mention_text": rival_name},
            source=chunks[0].id,
        )
    elif variant == "uses rival":
        b.edge("USES_PRODUCT", acc.ref, NodeRef("Product", rival), valid_from=b.ago(rng.randint(5, 60), 9), source="field-visit")
    else:
        text = rng.choice(VENDOR_CALLS[acc.lang])
        b.event([acc.ref, _staff(acc, "procurement")], "call", rng.uniform(1, 30), subject_line=text[:40], content=text, channel="phone")
    return Planted("competitor_penetration_risk", "Account", acc.ref.id, variant, needs_embedder=variant == "call about another vendor")


def _plant_clause(b: _Builder, acc: _Account, policy: dict, products: dict) -> Planted:
    """Story 1: a clause of the contract conflicts with a policy; warn legal."""
    rng = b.rng
    which = rng.choice(["payment", "data"])
    if which == "payment":
        text = "交付后30日内一次性付清全款，不接受分期。" if acc.lang == "zh" else "Full payment due within 30 days of delivery; no instalments."
        target, clause_type, why = policy["instalments"], "payment_terms", "The contract forbids instalments; the instalment plan needs them."
    else:
        text = "买方数据可由卖方与任何第三方共享。" if acc.lang == "zh" else "Buyer data may be shared by the seller with any third party."
        target, clause_type, why = policy["data-sharing"], "data_protection", "Sharing with any third party breaks the consented-processors rule."
    doc, _ = b.document(acc.ref, f"{acc.name} supply contract", "contract", acc.lang, rng.randint(30, 700), [rng.choice(NEUTRAL_CHUNKS[acc.lang])])
    clause = b.node("Clause", f"{doc.id}-cl0", {"title": clause_type.replace("_", " ").title(), "clause_type": clause_type, "text": text, "language": acc.lang})
    b.edge("HAS_CLAUSE", doc, clause, source=doc.id)
    b.edge("CONFLICTS_WITH", clause, target, {"description": why}, source="legal-review")
    return Planted("contract_clause_conflict", "Account", acc.ref.id, which)


def _plant_expansion(b: _Builder, acc: _Account, policy: dict, products: dict) -> Planted:
    """Downloads and product views by several contacts, often with an advancing opportunity."""
    rng = b.rng
    people = [c for c, _, _ in acc.contacts][:3]
    downloads = rng.randint(1, 3)
    for _ in range(downloads):
        b.event([rng.choice(people)], "download", rng.uniform(0.5, 12), url=f"https://medisupply.example/files/{rng.choice(DOWNLOADS)}", channel="web")
    views = rng.randint(3, 9)
    for _ in range(views):
        b.event([rng.choice(people)], "web_view", rng.uniform(0.5, 14), url=f"https://medisupply.example/{rng.choice(PAGES)}", channel="web")
    advancing = rng.random() < 0.6
    if advancing:
        opp = b.node(
            "Opportunity",
            b.next_id("opp"),
            {"name": f"{acc.name} expansion", "stage": rng.choice(["proposal", "negotiation"]), "close_date": b.date_ago(-rng.randint(10, 90))},
        )
        b.edge("HAS_OPPORTUNITY", acc.ref, opp, valid_from=b.ago(rng.randint(10, 80), 9))
    return Planted("expansion_readiness", "Account", acc.ref.id, f"{downloads} downloads, {views} views" + (", opportunity advancing" if advancing else ""))


def _plant_decision_chain(b: _Builder, acc: _Account, policy: dict, products: dict) -> Planted:
    """Story 1: someone new joined in a decision role (or an insider was just given one)."""
    rng = b.rng
    if rng.random() < 0.8:
        title, role = rng.choice(DECISION_HIRES[acc.lang])
        days = rng.uniform(3, 45)
        c = _add_contact(b, acc, title, role, days)
        b.event(
            [c, acc.ref],
            "meeting",
            max(0.5, days - rng.uniform(0, 3)),
            subject_line="首次拜访" if acc.lang == "zh" else "Introductory meeting",
            content="",
            channel="meeting",
        )
        return Planted("decision_chain_change", "Account", acc.ref.id, f"new {role} ({title}) {days:.0f} days ago")
    insider, _title, had = acc.contacts[-1]
    role = rng.choice([r for r in ("decision_maker", "budget_holder") if r != had])
    days = rng.uniform(1, 10)
    b.edge("HAS_ROLE", insider, acc.ref, {"role": role}, valid_from=b.ago(days, 9), source="org-chart")
    return Planted("decision_chain_change", "Account", acc.ref.id, f"insider promoted to {role} {days:.0f} days ago")


# ---------------------------------------------------------------------------- decoys and near misses
def _decoy_complaints(b: _Builder, acc: _Account, policy: dict, products: dict) -> list[Decoy]:
    """'More complaints' that is not 'wants premium service': an ageing scanner and a stream of
    complaints about a regulatory inspection and its penalty, no interest in its terms."""
    rng = b.rng
    device = _device_for(b, acc, old=True, product="us-900")
    for _ in range(rng.randint(3, 6)):
        b.event(
            [acc.ref],
            "ticket",
            rng.uniform(1, 40),
            [device, policy["nmpa-regulation"]],
            subject_line=rng.choice(REGULATORY_TICKETS[acc.lang]),
            channel="service",
        )
    return [Decoy("more_complaints", "replacement_anxiety", "Device", device.id, "complaint tickets about a regulatory penalty on an ageing device")]


def _decoy_test_orders(b: _Builder, acc: _Account, policy: dict, products: dict) -> list[Decoy]:
    """Test orders that look like activity: QA traffic on a customer's shop login."""
    rng = b.rng
    qa = _add_contact(b, acc, "QA test user", None, rng.randint(100, 400))
    for _ in range(rng.randint(6, 12)):
        b.event(
            [qa],
            "web_view",
            rng.uniform(0.2, 10),
            url=f"https://shop.medisupply.example/{rng.choice(PAGES)}?test=1",
            channel="test",
            source_system="pos-sandbox",
        )
    for _ in range(rng.randint(2, 4)):
        b.event(
            [qa], "download", rng.uniform(0.2, 10), url=f"https://medisupply.example/files/{rng.choice(DOWNLOADS)}", channel="test", source_system="pos-sandbox"
        )
    for _ in range(rng.randint(3, 6)):
        b.event(
            [acc.ref],
            "erp_signal",
            rng.uniform(0.2, 10),
            metric="order",
            value=0.01,
            subject_line="TEST ORDER - do not ship",
            channel="test",
            source_system="pos-sandbox",
        )
    return [Decoy("test_orders", "expansion_readiness", "Account", acc.ref.id, "product views, downloads and orders from a POS test login")]


def _decoy_competitor_views(b: _Builder, acc: _Account, policy: dict, products: dict) -> list[Decoy]:
    """Views by a competitor's staff: a rival's rep reads an ageing device's warranty terms."""
    rng = b.rng
    device = _device_for(b, acc, old=True, product="us-900")
    rival_staff = NodeRef("Contact", f"comp-{rng.choice([0, 2]):04d}-c{rng.randint(0, 2)}")
    for _ in range(rng.randint(3, 5)):
        b.event([rival_staff], "web_view", rng.uniform(0.5, 12), [device], url=_warranty_url(b, acc, device), channel="web")
    return [Decoy("competitor_staff", "replacement_anxiety", "Device", device.id, "a competitor's sales rep reading the warranty terms")]


def _decoy_competitor_browsing(b: _Builder, comp: _Account) -> Decoy:
    """Views by a competitor's staff: they browse our product pages and download brochures."""
    rng = b.rng
    staff = [c for c, _, _ in comp.contacts]
    for _ in range(rng.randint(6, 10)):
        b.event([rng.choice(staff)], "web_view", rng.uniform(0.5, 12), url=f"https://medisupply.example/{rng.choice(PAGES)}", channel="web")
    for _ in range(rng.randint(2, 3)):
        b.event([rng.choice(staff)], "download", rng.uniform(0.5, 12), url=f"https://medisupply.example/files/{rng.choice(DOWNLOADS)}", channel="web")
    return Decoy("competitor_staff", "expansion_readiness", "Account", comp.ref.id, "a competitor's staff browsing our product pages")


def _near_few_views(b: _Builder, acc: _Account, policy: dict, products: dict) -> list[Decoy]:
    """Two views of the terms of a young device, and old views of an old one (outside the window)."""
    rng = b.rng
    young = _device_for(b, acc, old=False)
    for _ in range(2):
        b.event([_staff(acc)], "web_view", rng.uniform(1, 10), [young], url=_warranty_url(b, acc, young), channel="web")
    old = _device_for(b, acc, old=True)
    for _ in range(3):
        b.event([_staff(acc)], "web_view", rng.uniform(60, 120), [old], url=_warranty_url(b, acc, old), channel="web")
    return [
        Decoy("near_miss:two_views_young_device", "replacement_anxiety", "Device", young.id),
        Decoy("near_miss:views_out_of_window", "replacement_anxiety", "Device", old.id),
    ]


def _near_serviced_on_time(b: _Builder, acc: _Account, policy: dict, products: dict) -> list[Decoy]:
    """High load but maintenance on time; late maintenance on a lightly used machine."""
    rng = b.rng
    busy = _add_device(b, acc, "ex-200", rng.randint(400, 1200), load=round(rng.uniform(0.82, 0.93), 2), overdue=0, hours=float(rng.randint(2000, 4000)))
    idle = _add_device(
        b, acc, "ex-350", rng.randint(400, 1200), load=round(rng.uniform(0.3, 0.6), 2), overdue=rng.randint(20, 50), hours=float(rng.randint(800, 2500))
    )
    return [
        Decoy("near_miss:high_load_serviced", "cash_flow_stress", "Device", busy.id),
        Decoy("near_miss:overdue_light_use", "cash_flow_stress", "Device", idle.id),
    ]


def _near_student_still_active(b: _Builder, acc: _Account, policy: dict, products: dict) -> list[Decoy]:
    """A low survey score from a student who still uses the app."""
    rng = b.rng
    s = _add_contact(b, acc, "学员" if acc.lang == "zh" else "student", None, 90, student=True)
    b.event([s], "survey", rng.uniform(1, 10), score_value=2.0, subject_line="课后满意度", content="题目有点难", channel="app")
    b.event([s], "app_usage", rng.uniform(0.5, 6), metric="lesson_video", duration_seconds=1800.0, channel="app")
    return [Decoy("near_miss:still_uses_app", "refund_risk", "Contact", s.id)]


def _near_old_survey(b: _Builder, acc: _Account, policy: dict, products: dict) -> list[Decoy]:
    """No app use, but the bad survey was long ago; no app use and a good survey."""
    rng = b.rng
    old = _add_contact(b, acc, "学员" if acc.lang == "zh" else "student", None, 120, student=True)
    b.event([old], "survey", rng.uniform(40, 70), score_value=2.0, subject_line="课后满意度", channel="app")
    b.event([old], "app_usage", rng.uniform(20, 40), metric="lesson_video", duration_seconds=900.0, channel="app")
    happy = _add_contact(b, acc, "学员" if acc.lang == "zh" else "student", None, 120, student=True)
    b.event([happy], "survey", rng.uniform(1, 10), score_value=4.0, subject_line="课后满意度", channel="app")
    return [
        Decoy("near_miss:survey_out_of_window", "refund_risk", "Contact", old.id),
        Decoy("near_miss:good_survey_no_app", "refund_risk", "Contact", happy.id),
    ]


def _near_old_clearance(b: _Builder, acc: _Account, policy: dict, products: dict) -> list[Decoy]:
    """A trader in a tariff country whose clearance trouble was three months ago."""
    rng = b.rng
    b.event([acc.ref], "ticket", rng.uniform(70, 110), subject_line=rng.choice(CLEARANCE_TICKETS["en"]), channel="service")
    return [Decoy("near_miss:clearance_out_of_window", "customs_policy_anxiety", "Account", acc.ref.id)]


def _near_settled_clause(b: _Builder, acc: _Account, policy: dict, products: dict) -> list[Decoy]:
    """A conflicting payment clause settled by an amendment (the conflict ended)."""
    rng = b.rng
    doc, _ = b.document(acc.ref, f"{acc.name} contract {b.as_of.year - 2}", "contract", acc.lang, rng.randint(400, 800), [rng.choice(NEUTRAL_CHUNKS[acc.lang])])
    clause = b.node(
        "Clause",
        f"{doc.id}-cl0",
        {"title": "Payment terms", "clause_type": "payment_terms", "text": "Full payment within 30 days; no instalments.", "language": "en"},
    )
    b.edge("HAS_CLAUSE", doc, clause, source=doc.id)
    b.edge(
        "CONFLICTS_WITH",
        clause,
        policy["instalments"],
        {"description": "settled by amendment 1"},
        valid_from=b.ago(700, 9),
        valid_to=b.ago(rng.randint(30, 300), 9),
        source="legal-review",
    )
    return [Decoy("near_miss:settled_clause", "contract_clause_conflict", "Account", acc.ref.id)]


def _near_new_nurse(b: _Builder, acc: _Account, policy: dict, products: dict) -> list[Decoy]:
    """A new hire in a role with no say in purchases."""
    _add_contact(b, acc, b.rng.choice(NON_DECISION_HIRES[acc.lang]), None, b.rng.uniform(2, 40))
    return [Decoy("near_miss:new_non_decision_hire", "decision_chain_change", "Account", acc.ref.id)]


def _near_stale_opportunity(b: _Builder, acc: _Account, policy: dict, products: dict) -> list[Decoy]:
    """A subsidised region and an opportunity with a budget that slipped long ago."""
    opp = b.node(
        "Opportunity",
        b.next_id("opp"),
        {"name": f"{acc.name} upgrade", "stage": "qualification", "amount": 300000.0, "currency": "CNY", "close_date": b.date_ago(b.rng.randint(60, 300))},
    )
    b.edge("HAS_OPPORTUNITY", acc.ref, opp, valid_from=b.ago(b.rng.randint(200, 500), 9))
    return [Decoy("near_miss:stale_opportunity_in_subsidy_region", "budget_loosening", "Account", acc.ref.id)]
