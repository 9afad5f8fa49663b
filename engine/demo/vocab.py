"""The words demo leads are made of: names, companies, industries, titles, pages, assets.

Closed, hand-written lists (no Faker): the same seed gives the same rows on every machine and
every library version. Weights are relative. The texts are written the way CRMs and web forms
write them, Japanese and English mixed, so the tiers of flows/shared.flow have work to do.
"""

from __future__ import annotations

# (kanji, romaji) family and given names; the romaji builds the e-mail address.
JA_FAMILY = (
    ("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi"), ("田中", "tanaka"),
    ("伊藤", "ito"), ("渡辺", "watanabe"), ("山本", "yamamoto"), ("中村", "nakamura"),
    ("小林", "kobayashi"), ("加藤", "kato"), ("吉田", "yoshida"), ("山田", "yamada"),
    ("佐々木", "sasaki"), ("山口", "yamaguchi"), ("松本", "matsumoto"), ("井上", "inoue"),
    ("木村", "kimura"), ("林", "hayashi"), ("斎藤", "saito"), ("清水", "shimizu"),
    ("山崎", "yamazaki"), ("森", "mori"), ("池田", "ikeda"), ("橋本", "hashimoto"),
    ("阿部", "abe"), ("石川", "ishikawa"), ("前田", "maeda"), ("藤田", "fujita"),
    ("岡田", "okada"), ("後藤", "goto"), ("長谷川", "hasegawa"), ("村上", "murakami"),
)
JA_GIVEN = (
    ("太郎", "taro"), ("健太", "kenta"), ("翔太", "shota"), ("大輔", "daisuke"),
    ("直樹", "naoki"), ("拓也", "takuya"), ("誠", "makoto"), ("浩", "hiroshi"),
    ("隆", "takashi"), ("学", "manabu"), ("亮", "ryo"), ("悠斗", "yuto"),
    ("花子", "hanako"), ("美咲", "misaki"), ("陽子", "yoko"), ("由美", "yumi"),
    ("恵", "megumi"), ("愛", "ai"), ("真由美", "mayumi"), ("彩", "aya"),
    ("明美", "akemi"), ("智子", "tomoko"), ("さくら", "sakura"), ("結衣", "yui"),
)
EN_FAMILY = ("Smith", "Johnson", "Williams", "Brown", "Miller", "Davis", "Garcia", "Wilson",
             "Taylor", "Anderson", "Tan", "Lim", "Lee", "Ng", "Wong", "Chua", "Goh", "Kumar")
EN_GIVEN = ("James", "Michael", "David", "Robert", "Daniel", "Emily", "Sarah", "Jessica",
            "Laura", "Olivia", "Wei Ling", "Jun Hao", "Mei", "Kai", "Priya", "Raj", "Aisha",
            "Marcus")

# Company names: a stem and a word that says the trade.
JA_STEMS = ("山田", "東京", "日本", "大和", "富士", "三和", "中央", "北斗", "青葉", "旭",
            "光", "丸井", "昭和", "朝日", "双葉", "桜井", "浪速", "瀬戸内", "みなと", "ひかり",
            "千代田", "横浜", "名古屋", "関西", "九州", "北海", "新星", "笑顔", "アルファ",
            "グローバル")
EN_STEMS = ("Pacific", "Summit", "Harbor", "Sakura", "Orion", "Meridian", "Evergreen", "Apex",
            "Lumen", "Bluewater", "Kite", "Northstar", "Crescent", "Redwood", "Marina")

# industry text -> (weight, Japanese company words, English company words). The texts are
# what CRMs hold; shared.flow's `sector` tier reads them (商社 -> trading, 倉庫 -> warehousing...).
INDUSTRIES: dict[str, tuple[int, tuple[str, ...], tuple[str, ...]]] = {
    "製造業": (16, ("製作所", "工業", "精機", "電機"), ("Manufacturing", "Industries")),
    "メーカー": (4, ("化学", "食品", "製薬"), ("Chemicals", "Foods")),
    "Manufacturing": (3, ("テクノ",), ("Manufacturing", "Precision")),
    "商社": (7, ("商事", "物産", "通商"), ("Trading",)),
    "卸売業": (5, ("産業", "商店"), ("Wholesale",)),
    "Trading": (2, ("トレーディング",), ("Trading",)),
    "情報通信業": (8, ("システムズ", "ソフト", "情報"), ("Systems", "Technologies")),
    "ソフトウェア": (6, ("ソフトウェア", "テクノロジー"), ("Software", "Labs")),
    "Software": (3, ("ラボ",), ("Software", "Digital")),
    "小売業": (6, ("ストア", "百貨店", "商会"), ("Retail", "Stores")),
    "Retail": (1, ("マート",), ("Retail",)),
    "物流": (4, ("運輸", "ロジスティクス"), ("Logistics",)),
    "倉庫業": (3, ("倉庫",), ("Warehousing",)),
    "Logistics": (1, ("エクスプレス",), ("Logistics", "Freight")),
    "銀行": (2, ("銀行",), ("Bank",)),
    "信用金庫": (1, ("信用金庫",), ("Credit",)),
    "金融": (3, ("ファイナンス", "証券"), ("Finance", "Capital")),
    "建設業": (6, ("建設", "工務店"), ("Construction",)),
    "不動産": (3, ("不動産", "地所"), ("Realty",)),
    "医療・福祉": (3, ("メディカル", "ケア"), ("Medical", "Healthcare")),
    "サービス業": (4, ("サービス", "企画"), ("Services",)),
}

# Service categories: telling for IT and service firms, mostly unknown elsewhere.
SERVICE_CATEGORIES = {
    "情報通信業": ("SaaS", "SIer", "受託開発", "ITコンサルティング"),
    "ソフトウェア": ("SaaS", "パッケージソフト", "受託開発"),
    "Software": ("SaaS", "IT consulting", "Packaged software"),
    "サービス業": ("人材サービス", "広告代理店", "コンサルティング", "BPO"),
    "金融": ("リース", "保険代理店", "決済サービス"),
    "物流": ("3PL", "国際物流"),
}

# Employee-count bands: (weight, low, high). About half SMB (2-99), some unknown (None), a few
# sole proprietors (1) and a little bad data (0) that the size tier files with sole proprietors.
EMPLOYEE_BANDS = ((3, 1, 1), (1, 0, 0), (48, 2, 99), (22, 100, 499), (14, 500, 20000))
EMPLOYEES_UNKNOWN = 0.12

# (title, weight). Japanese and English; "主任" and "係長" are staff in shared.flow.
TITLES_JA = (("代表取締役社長", 3), ("代表取締役", 2), ("取締役", 3), ("執行役員", 2),
             ("部長", 9), ("次長", 3), ("課長", 11), ("室長", 2), ("部長代理", 2), ("係長", 6),
             ("主任", 10), ("担当", 14), ("マネージャー", 3))
TITLES_EN = (("CEO", 2), ("CFO", 2), ("President", 1), ("Director of Finance", 2),
             ("Finance Manager", 4), ("IT Manager", 3), ("Head of Operations", 1),
             ("Manager", 4), ("Accountant", 3), ("Staff", 5), ("Specialist", 3),
             ("Coordinator", 2))
TITLE_UNKNOWN = 0.14

DEPARTMENTS_JA = (("経理部", 10), ("財務部", 4), ("経理財務部", 3), ("総務部", 8), ("人事部", 4),
                  ("管理部", 5), ("情報システム部", 6), ("DX推進室", 2), ("経営企画部", 4),
                  ("営業部", 8), ("海外事業部", 2))
DEPARTMENTS_EN = (("Finance", 6), ("Accounting", 4), ("IT", 4), ("HR", 2),
                  ("General Affairs", 2), ("Sales", 4), ("Operations", 2))
DEPARTMENT_UNKNOWN = 0.2

# stage -> weight. Customers include many that went quiet (dormant-looking) on purpose.
STAGES = (("lead", 38), ("mql", 7), ("sql", 4), ("opportunity", 4), ("negotiation", 2),
          ("customer", 22), ("recycle", 7), ("dormant", 8), ("churned", 3))
STAGE_UNKNOWN = 0.05
# The order a lead usually walks through (stage-change history is built along it).
FUNNEL = ("lead", "mql", "sql", "opportunity", "negotiation", "customer")

OWNERS = tuple(f"{name}@example.co.jp" for name in (
    "tanaka.k", "suzuki.m", "sato.y", "ito.h", "watanabe.a", "kobayashi.r", "nakamura.s",
    "kato.t", "yoshida.n", "yamada.e", "j.miller", "wl.tan"))

# (country, weight, time zones, languages)
COUNTRIES = (("JP", 88, ("Asia/Tokyo",), ("ja", "ja", "ja", "ja", "en")),
             ("US", 6, ("America/Los_Angeles", "America/New_York", "America/Chicago"), ("en",)),
             ("SG", 6, ("Asia/Singapore",), ("en", "en", "zh")))

# legal_basis: how consent to marketing mail was obtained, as CRMs write it down.
LEGAL_BASES = (("ウェブフォームでオプトイン", 6), ("名刺交換", 3), ("セミナー申込時に同意", 2),
               ("資料請求フォームで同意", 2), ("展示会でのバッジスキャン・同意確認", 1))

# Custom attributes of flows/shared.flow.
SOFTWARE = (("freee会計", "cloud", 5), ("マネーフォワード クラウド", "cloud", 5),
            ("楽楽精算", "cloud", 4), ("SAP Concur", "cloud", 3), ("弥生会計", "on-premise", 4),
            ("勘定奉行", "on-premise", 4), ("OBIC7", "on-premise", 2),
            ("Excel", "none", 6), ("紙とハンコ", "none", 2))
OVERSEAS = (("none", 5), ("occasional", 3), ("frequent", 2))

# Web pages. Topics: a reader of one topic views many pages under /topics/<topic>/.
TOPICS = {
    "invoice": ("インボイス制度", ("overview", "qualified-invoice", "tax-rates", "checklist",
                                   "faq", "receiving", "issuing", "transition")),
    "e-book": ("電子帳簿保存法", ("overview", "scanner-storage", "electronic-transactions",
                                  "search-requirements", "faq", "penalties")),
    "expense-dx": ("経費精算のDX", ("paperless", "approval-workflow", "corporate-card",
                                    "mobile-receipts", "roi")),
    "travel": ("出張管理", ("overseas-travel", "per-diem", "booking", "duty-of-care")),
}
GENERAL_PAGES = ("/", "/features", "/features/expense", "/features/invoice", "/features/travel",
                 "/blog/expense-tips", "/blog/month-end-close", "/blog/remote-approval",
                 "/about", "/seminars", "/security", "/integrations")
PRICING_PAGES = ("/pricing", "/pricing/enterprise", "/pricing/faq")
CASE_PAGES = ("/case-studies/trading-co", "/case-studies/manufacturer",
              "/case-studies/retail-chain", "/case-studies/it-services")
COMPARE_PAGES = ("/compare/concur", "/compare/rakuraku", "/compare/excel")

WHITE_PAPERS = ("wp-invoice-guide", "wp-e-book-law", "wp-expense-dx", "wp-travel-policy",
                "wp-month-end-close")
CASE_STUDIES = ("case-trading-co", "case-manufacturer", "case-retail-chain")
FORMS_MINOR = ("newsletter", "seminar-registration", "document-request")
